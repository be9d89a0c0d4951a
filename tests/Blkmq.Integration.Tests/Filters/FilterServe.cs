using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Cli.Interop;

namespace Blkmq.Integration.Tests.Filters;

/// <summary>Starts <c>blkmq serve</c> on a filter stack, for the real clients of the filter tests.</summary>
internal static class FilterServe
{
    public static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Serves one export on a free TCP port; returns the process and the export's URI.</summary>
    public static async Task<(CliProcess Serve, string Uri)> StartAsync(string export, CancellationToken cancellationToken, params string[] more)
    {
        CliProcess serve = BlkmqCli.Start(["serve", "--export", export, "--listen", "127.0.0.1:0", .. more]);
        try
        {
            string uri = (await serve.ReadLinesAsync(1, ReadyTimeout, cancellationToken))[0];
            return (serve, uri);
        }
        catch
        {
            await serve.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server with SIGTERM and checks it exits 0.</summary>
    public static async Task StopAsync(CliProcess serve)
    {
        serve.Signal(Libc.SigTerm);
        Assert.Equal(0, await serve.WaitForExitAsync(ExitTimeout, TestContext.Current.CancellationToken));
    }
}
