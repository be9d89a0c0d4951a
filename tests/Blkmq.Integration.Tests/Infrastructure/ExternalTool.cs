using System.Diagnostics;
using System.Text;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// Runs real client binaries. A missing binary skips the test locally and fails it when <c>CI=true</c>; a run that
/// exceeds its time limit is killed by its own process id.
/// </summary>
internal static class ExternalTool
{
    /// <summary>Debian's tools first: nbdsh runs <c>python3 -m nbd</c>, which needs the system Python, not a pyenv one.</summary>
    private static readonly string s_path = "/usr/bin:/bin:/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH");

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Finds each tool on the PATH, or skips (fails under CI) naming the missing ones.</summary>
    public static void Require(params string[] tools)
    {
        var missing = tools.Where(static t => Find(t) is null).ToList();
        if (missing.Count == 0)
        {
            return;
        }

        string message = $"Missing test tool(s): {string.Join(", ", missing)}; run scripts/install-test-tools.sh.";
        if (IsCi)
        {
            Assert.Fail(message);
        }

        Assert.Skip(message);
    }

    /// <summary>Requires the nbd Python module used by nbdsh.</summary>
    public static async Task RequireNbdShAsync()
    {
        Require("nbdsh");
        ToolResult probe = await RunAsync("nbdsh", ["-c", "pass"], TimeSpan.FromSeconds(30));
        if (probe.ExitCode != 0)
        {
            string message = "nbdsh does not run (python3-libnbd missing?): " + probe.StandardError;
            if (IsCi)
            {
                Assert.Fail(message);
            }

            Assert.Skip(message);
        }
    }

    public static string? Find(string tool)
    {
        foreach (string directory in s_path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs a tool to its end (or kills it at <paramref name="timeout"/>) and returns its exit code and output.</summary>
    public static async Task<ToolResult> RunAsync(string tool, IEnumerable<string> arguments, TimeSpan timeout, string? standardInput = null, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(Find(tool) ?? tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["PATH"] = s_path;
        info.Environment["LIBNBD_DEBUG"] = "0";
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stdout)
                {
                    stdout.AppendLine(e.Data);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        int pid = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            // Killed by its own pid (and its children), never by name.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"{tool} (pid {pid}) did not finish within {timeout}; killed. stderr: {stderr}");
        }

        process.WaitForExit();
        lock (stdout)
        {
            lock (stderr)
            {
                return new ToolResult(process.ExitCode, stdout.ToString(), stderr.ToString(), tool + " " + string.Join(' ', info.ArgumentList));
            }
        }
    }

    /// <summary>Runs a tool and fails the test with its output when it exits non-zero.</summary>
    public static async Task<ToolResult> RunCheckedAsync(string tool, IEnumerable<string> arguments, TimeSpan timeout, string? standardInput = null, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        ToolResult result = await RunAsync(tool, arguments, timeout, standardInput, workingDirectory, environment);
        Assert.True(result.ExitCode == 0, $"{result.CommandLine} exited {result.ExitCode}\nstdout:\n{result.StandardOutput}\nstderr:\n{result.StandardError}");
        return result;
    }
}

/// <summary>What a tool run produced.</summary>
internal sealed record ToolResult(int ExitCode, string StandardOutput, string StandardError, string CommandLine);
