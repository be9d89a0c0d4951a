using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace Blkmq.Benchmarks;

/// <summary>
/// Runs the benchmarks with BenchmarkDotNet's command line: <c>--filter '*'</c> for all, <c>--job short</c> for a
/// quick run, <c>--list flat</c> to list them. Results go to <c>bench/Blkmq.Benchmarks/BenchmarkDotNet.Artifacts</c>
/// unless <c>--artifacts</c> says otherwise.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        // The build output is bin/<configuration>/<framework>/ under the project.
        string artifacts = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "BenchmarkDotNet.Artifacts"));
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, DefaultConfig.Instance.WithArtifactsPath(artifacts));
    }
}
