using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// The built <c>blkmq</c> command: the Blkmq.Cli.dll of the configuration these tests were built in (the project file
/// records its path), run by the dotnet host as a process of its own, as a user runs it.
/// </summary>
internal static partial class BlkmqCli
{
    private static readonly Lazy<string> s_assemblyPath = new(FindAssembly);
    private static readonly Lazy<string> s_dotnetPath = new(FindDotnet);
    private static readonly Lazy<string> s_repositoryRoot = new(FindRepositoryRoot);

    /// <summary>Gets the path of Blkmq.Cli.dll; fails the test when the build did not produce it.</summary>
    public static string AssemblyPath => s_assemblyPath.Value;

    /// <summary>Gets the dotnet host that runs the CLI.</summary>
    public static string DotnetPath => s_dotnetPath.Value;

    /// <summary>Gets the repository the CLI was built in (the directory holding Blkmq.slnx), for its scripts.</summary>
    public static string RepositoryRoot => s_repositoryRoot.Value;

    /// <summary>
    /// Runs <c>blkmq</c> with <paramref name="arguments"/> to its end and returns its exit code and output; fails the test
    /// if it still runs after <paramref name="timeout"/>. The process is killed by its id if it runs on (timeout, cancellation).
    /// </summary>
    public static async Task<ToolResult> RunAsync(IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await using CliProcess process = Start(arguments);
        int exitCode = await process.WaitForExitAsync(timeout, cancellationToken);
        return new ToolResult(exitCode, process.StandardOutput, process.StandardError, process.CommandLine);
    }

    /// <summary>Starts <c>blkmq</c> with <paramref name="arguments"/>; the caller disposes the process, which kills it if it still runs.</summary>
    public static CliProcess Start(IEnumerable<string> arguments) => CliProcess.Start(s_dotnetPath.Value, [AssemblyPath, .. arguments]);

    /// <summary>Checks that nothing the process wrote is an exception or a stack trace: a user gets a message, not a crash dump.</summary>
    public static void AssertNoStackTrace(ToolResult result)
    {
        string output = result.StandardOutput + result.StandardError;
        Assert.DoesNotMatch(StackFrame(), output);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Exception:", output, StringComparison.Ordinal);
    }

    /// <summary>Creates a fresh directory under the temp directory; the caller deletes it.</summary>
    public static string CreateTempDirectory()
    {
        string directory = Path.Combine(Path.GetTempPath(), "blkmq-cli-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        return directory;
    }

    private static string FindAssembly()
    {
        string? path = typeof(BlkmqCli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(static a => a.Key == "BlkmqCliAssembly")?.Value;
        Assert.False(string.IsNullOrEmpty(path), "The test assembly does not record where Blkmq.Cli.dll is (see Blkmq.Integration.Tests.csproj).");
        Assert.True(File.Exists(path), $"Blkmq.Cli.dll is not at {path}: build the test project (it builds the CLI).");
        return path;
    }

    private static string FindRepositoryRoot()
    {
        string? directory = Path.GetDirectoryName(AssemblyPath);
        while (directory is not null && !File.Exists(Path.Combine(directory, "Blkmq.slnx")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        Assert.True(directory is not null, $"No Blkmq.slnx above {AssemblyPath}.");
        return directory;
    }

    /// <summary>The host that runs these tests when it is the dotnet muxer, else the muxer of the running runtime's install.</summary>
    private static string FindDotnet()
    {
        string name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.ProcessPath is { } process && string.Equals(Path.GetFileName(process), name, StringComparison.Ordinal))
        {
            return process;
        }

        // The runtime lives in <root>/shared/Microsoft.NETCore.App/<version>/; the muxer in <root>.
        string root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        string candidate = Path.Combine(root, name);
        if (File.Exists(candidate))
        {
            return candidate;
        }

        return ExternalTool.Find(name) ?? name;
    }

    [GeneratedRegex(@"^\s+at \S+", RegexOptions.Multiline)]
    private static partial Regex StackFrame();
}
