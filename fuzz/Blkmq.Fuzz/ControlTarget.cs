using System.Net.Sockets;
using System.Text;
using Blkmq.Cli;
using Blkmq.Drivers.Null;
using Blkmq.Drivers.Null.Control;

namespace Blkmq.Fuzz;

/// <summary>
/// <c>control</c>: the input is what <c>blkmq ctl</c> (or anyone) writes to <c>blkmq serve --control PATH</c>: command
/// lines, sent over the Unix socket to the same <c>ControlServer</c> and <c>ControlProtocol</c> the server runs,
/// over a memory-backed and a memory-less null disk. Every reply line must be <c>ok ...</c> or <c>error ...</c>, the
/// connection must end after the client's last byte, and no command may throw out of the protocol. After each run
/// the disks are powered on and their bad blocks cleared, so runs do not depend on each other.
/// </summary>
internal sealed class ControlTarget : IFuzzTarget, IDisposable
{
    public const string TargetName = "control";

    private static readonly TimeSpan s_hangLimit = TimeSpan.FromSeconds(5);

    private readonly string _directory;
    private readonly NullBlock[] _instances;
    private readonly ControlProtocol _protocol;
    private readonly ControlServer _server;
    private readonly byte[] _replyBuffer = new byte[16 * 1024];
    private Exception? _thrown;

    public ControlTarget()
    {
        _directory = Directory.CreateTempSubdirectory("blkmq-fuzz-control-").FullName;
        _instances =
        [
            NullBlock.Create("memory_backed=1,size=1M,bs=512,irqmode=0,hw_queue_depth=16"),
            NullBlock.Create("memory_backed=0,size=1M,bs=4096,irqmode=0,hw_queue_depth=16"),
        ];
        _protocol = new ControlProtocol([new ControlExport("mem", _instances[0].Devices[0]), new ControlExport("null", _instances[1].Devices[0])]);
        _server = new ControlServer(Path.Combine(_directory, "control.sock"), Execute);
        _server.Start();
    }

    public string Name => TargetName;

    public void Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(_server.Path));
        Task sending = Task.Run(() =>
        {
            try
            {
                socket.Send(bytes);
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The server closed first (a line too long).
            }
        });
        var replies = new MemoryStream();
        socket.ReceiveTimeout = (int)s_hangLimit.TotalMilliseconds;
        try
        {
            int read;
            while ((read = socket.Receive(_replyBuffer)) > 0)
            {
                replies.Write(_replyBuffer, 0, read);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            throw new FuzzFindingException($"control connection still open {s_hangLimit.TotalSeconds} s after the client's last byte", e);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed with input unread: a line too long ends the connection.
        }

        _ = sending.Wait(s_hangLimit);
        Reset();
        if (Interlocked.Exchange(ref _thrown, null) is { } thrown)
        {
            throw new FuzzFindingException("a control command threw out of the protocol", thrown);
        }

        string text = Encoding.UTF8.GetString(replies.ToArray());
        foreach (string line in text.Split('\n'))
        {
            if (line.Length != 0 && !line.StartsWith("ok", StringComparison.Ordinal) && !line.StartsWith("error ", StringComparison.Ordinal))
            {
                throw new FuzzFindingException($"control reply is neither 'ok' nor 'error': '{line}'");
            }
        }
    }

    public void Dispose()
    {
        _server.StopAsync().GetAwaiter().GetResult();
        foreach (NullBlock instance in _instances)
        {
            instance.Dispose();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private async ValueTask<string> Execute(string line)
    {
        try
        {
            return await _protocol.ExecuteAsync(line).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _ = Interlocked.CompareExchange(ref _thrown, e, null);
            throw;
        }
    }

    private void Reset()
    {
        foreach (string name in (string[])["mem", "null"])
        {
            string on = _protocol.ExecuteAsync($"power {name} on").AsTask().GetAwaiter().GetResult();
            string clear = _protocol.ExecuteAsync($"badblocks {name} clear").AsTask().GetAwaiter().GetResult();
            if (!on.StartsWith("ok", StringComparison.Ordinal) || !clear.StartsWith("ok", StringComparison.Ordinal))
            {
                throw new FuzzFindingException($"control reset failed: '{on}', '{clear}'");
            }
        }
    }
}
