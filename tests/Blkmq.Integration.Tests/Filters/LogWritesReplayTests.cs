using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Filters;

/// <summary>log-writes + replay: the image rebuilt at each mark is bit-exact with the one nbdcopy captured live at that mark.</summary>
public sealed class LogWritesReplayTests
{
    private const int TestTimeoutMilliseconds = 240_000;

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Replay_ToEachMark_MatchesTheLiveImage()
    {
        ExternalTool.Require("qemu-io", "nbdcopy");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string log = Path.Combine(directory, "writes.log");
            string control = Path.Combine(directory, "ctl.sock");
            var live = new List<string>();
            (CliProcess serve, string uri) = await FilterServe.StartAsync($"d=memory:size=8M,discard=1|log-writes:file={log}", TestContext.Current.CancellationToken, "--control", control);
            await using (serve)
            {
                var random = new Random(5);
                for (int round = 0; round < 5; round++)
                {
                    var commands = new List<string>();
                    for (int i = 0; i < 6; i++)
                    {
                        commands.Add("-c");
                        commands.Add($"write -P {random.Next(1, 255)} {random.Next(0, 2000) * 4096} {random.Next(1, 16) * 4096}");
                    }

                    commands.AddRange(["-c", $"discard {random.Next(0, 2000) * 4096} 8k", "-c", "flush"]);
                    await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", .. commands, uri], FilterServe.ToolTimeout);
                    ToolResult mark = await BlkmqCli.RunAsync(["ctl", "--control", control, "mark", $"m{round}"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
                    Assert.True(mark.ExitCode == 0, mark.StandardError);
                    string image = Path.Combine(directory, $"live{round}.img");
                    await ExternalTool.RunCheckedAsync("nbdcopy", [uri, image], FilterServe.ToolTimeout);
                    live.Add(await TestFiles.Sha256Async(image));
                }

                await FilterServe.StopAsync(serve);
            }

            for (int round = 0; round < 5; round++)
            {
                string replayed = Path.Combine(directory, $"replay{round}.img");
                ToolResult replay = await BlkmqCli.RunAsync(["replay", log, "--to", $"m{round}", "--output", replayed], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
                Assert.True(replay.ExitCode == 0, replay.StandardError);
                Assert.Equal(live[round], await TestFiles.Sha256Async(replayed));
            }

            ToolResult list = await BlkmqCli.RunAsync(["replay", log, "--list"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
            Assert.Contains("mark m4 ", list.StandardOutput, StringComparison.Ordinal);
            ToolResult missing = await BlkmqCli.RunAsync(["replay", log, "--to", "nope", "--output", Path.Combine(directory, "x.img")], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(2, missing.ExitCode);
            Assert.StartsWith("blkmq replay: --to nope: no such mark in the log (m0, m1, m2, m3, m4).", missing.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
