using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Blkmq.Integration.Tests.Cli.Interop;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// A running <c>blkmq</c> process (for commands that run until stopped, such as <c>serve</c>): its standard output
/// line by line, its standard error as text, signals by its own process id. Disposing kills it (and its children) by
/// that id if it still runs; nothing is ever killed by name.
/// </summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly StringBuilder _standardOutput = new();
    private readonly StringBuilder _standardError = new();
    private readonly Lock _lock = new();

    private CliProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
    }

    /// <summary>Gets the process id.</summary>
    public int Id { get; private set; }

    /// <summary>Gets the command line, for messages.</summary>
    public string CommandLine { get; }

    /// <summary>Gets everything written to standard output so far.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_lock)
            {
                return _standardOutput.ToString();
            }
        }
    }

    /// <summary>Gets everything written to standard error so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_lock)
            {
                return _standardError.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="host"/> with <paramref name="arguments"/>, standard input closed, both outputs captured.</summary>
    public static CliProcess Start(string host, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        var cli = new CliProcess(process, host + " " + string.Join(' ', info.ArgumentList));
        process.OutputDataReceived += (_, e) => cli.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => cli.OnError(e.Data);
        process.Start();
        cli.Id = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return cli;
    }

    /// <summary>
    /// Reads the next <paramref name="count"/> lines of standard output; fails the test, with what the process wrote to
    /// standard error, if it exits or <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task<IReadOnlyList<string>> ReadLinesAsync(int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var lines = new List<string>(count);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            while (lines.Count < count)
            {
                if (!await _lines.Reader.WaitToReadAsync(cts.Token))
                {
                    Assert.Fail($"blkmq (pid {Id}) closed its standard output after {lines.Count} of {count} lines (exit code {ExitCodeText()}).\n{Describe()}");
                }

                while (lines.Count < count && _lines.Reader.TryRead(out string? line))
                {
                    lines.Add(line);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"blkmq (pid {Id}) wrote {lines.Count} of {count} lines within {timeout} (killed when the test ends).\n{Describe()}");
        }

        return lines;
    }

    /// <summary>Sends <paramref name="signal"/> (<see cref="Libc.SigTerm"/>, <see cref="Libc.SigInt"/>) to this process, by its id.</summary>
    public void Signal(int signal)
    {
        Assert.False(_process.HasExited, $"blkmq (pid {Id}) already exited ({ExitCodeText()}).\n{Describe()}");
        int result = Libc.Kill(Id, signal);
        Assert.True(result == 0, $"kill({Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}.");
    }

    /// <summary>Waits for the process to exit and returns its exit code; fails the test if it still runs after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Assert.Fail($"blkmq (pid {Id}) still runs {timeout} later (killed when the test ends).\n{Describe()}");
        }

        // The parameterless wait also waits for the end of the redirected streams, so the output is complete.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Describes the process and its output, for failure messages.</summary>
    public string Describe() => $"command: {CommandLine}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                // By its own pid (and its children's), never by name.
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            _lines.Writer.TryComplete();
            return;
        }

        lock (_lock)
        {
            _standardOutput.AppendLine(line);
        }

        _lines.Writer.TryWrite(line);
    }

    private void OnError(string? line)
    {
        if (line is not null)
        {
            lock (_lock)
            {
                _standardError.AppendLine(line);
            }
        }
    }

    private string ExitCodeText() => _process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
}
