using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Blkmq.Drivers.Null;
using Blkmq.Nbd;

namespace Blkmq.Fuzz;

/// <summary>
/// The NBD server the NBD harnesses talk to: started once per process on 127.0.0.1 (a port chosen at run time), with
/// an export whose IO completes inline (<c>disk</c>), one whose IO completes on another thread (<c>async</c>) and a
/// read-only one (<c>ro</c>), all small memory disks. Each run is one client connection: every input byte is sent,
/// the sending side closed, and every reply byte read until the server closes.
/// </summary>
#pragma warning disable CA1001 // One per process, shared by every run: it lives as long as the process.
internal sealed class NbdFuzzServer
#pragma warning restore CA1001
{
    /// <summary>How long a connection may stay open after the client's last byte before it counts as hung.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(5);

    /// <summary>The export names, in the order the transmission harness's selector byte picks them.</summary>
    public static readonly string[] ExportNames = ["disk", "async", "ro"];

    private static readonly Lazy<NbdFuzzServer> s_shared = new(static () => new NbdFuzzServer());

    private readonly NbdServer _server;
    private readonly NullBlock[] _instances;
    private static readonly byte[] s_goAcknowledgement = MakeGoAcknowledgement();


    private NbdFuzzServer()
    {
        Logger = new ErrorLogger(12); // NbdLog.ConnectionFailed: an exception no connection should meet.
        _instances =
        [
            NullBlock.Create("memory_backed=1,discard=1,size=1M,bs=512,irqmode=0,hw_queue_depth=64"),
            NullBlock.Create("memory_backed=1,discard=1,size=1M,bs=512,irqmode=1,hw_queue_depth=64"),
            NullBlock.Create("memory_backed=1,size=1M,bs=4096,irqmode=0,hw_queue_depth=64"),
        ];
        NbdExport[] exports =
        [
            new() { Name = ExportNames[0], Disk = _instances[0].Disk, Description = "inline completions" },
            new() { Name = ExportNames[1], Disk = _instances[1].Disk, Description = "completions on another thread" },
            new() { Name = ExportNames[2], Disk = _instances[2].Disk, Description = "read-only", ReadOnly = true },
        ];
        _server = new NbdServer(new NbdServerOptions
        {
            Exports = exports,
            Listeners = [new IPEndPoint(IPAddress.Loopback, 0)],
            HandshakeTimeout = TimeSpan.FromSeconds(30),
            LoggerFactory = Logger,
        });
        _server.StartAsync().GetAwaiter().GetResult();
        EndPoint = (IPEndPoint)_server.EndPoints[0];
    }

    /// <summary>Gets the server every NBD harness in this process shares.</summary>
    public static NbdFuzzServer Shared => s_shared.Value;

    /// <summary>Gets the address the server listens on.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Gets the logger that remembers connection failures.</summary>
    public ErrorLogger Logger { get; }

    /// <summary>
    /// Sends <paramref name="handshake"/> and, once the server has acknowledged its <c>NBD_OPT_GO</c>, then
    /// <paramref name="input"/> as one client (so the input arrives as a client's first requests do, in the
    /// transmission phase); closes its sending side and reads until the server closes; then checks that the server
    /// forgot the connection and no IO or tag is left.
    /// </summary>
    /// <param name="handshake">Options ending with <c>NBD_OPT_GO</c>, or empty to send the input alone.</param>
    /// <param name="input">The rest of the client's bytes.</param>
    /// <returns>How many reply bytes (greeting included) the server sent.</returns>
    /// <exception cref="FuzzFindingException">The connection hung, leaked, or failed with an unexpected exception.</exception>
    public long Exchange(ReadOnlySpan<byte> handshake, ReadOnlySpan<byte> input)
    {
        byte[] first = handshake.IsEmpty ? input.ToArray() : handshake.ToArray();
        byte[] then = handshake.IsEmpty ? [] : input.ToArray();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(EndPoint);
        socket.ReceiveTimeout = (int)HangLimit.TotalMilliseconds;

        // Replies are read while the input goes out: a client that does not read can stall a server that answers.
        using var goAcknowledged = new ManualResetEventSlim(handshake.IsEmpty);
        Task sending = Task.Run(() => Send(socket, first, then, goAcknowledged));
        byte[] replyBuffer = new byte[64 * 1024];
        long received = 0;
        int matched = 0;
        try
        {
            while (true)
            {
                int read = socket.Receive(replyBuffer);
                if (read == 0)
                {
                    break;
                }

                received += read;
                if (!goAcknowledged.IsSet && FindGoAcknowledgement(replyBuffer.AsSpan(0, read), ref matched))
                {
                    goAcknowledged.Set();
                }
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            Logger.ThrowIfLogged();
            throw new FuzzFindingException($"NBD connection still open {HangLimit.TotalSeconds} s after the client's last byte; {Describe()}", e);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            // The server closed with input unread (a protocol violation ends the connection): as good as an end.
        }
        finally
        {
            // A handshake the server refused: the sender gives up on the rest.
            goAcknowledged.Set();
        }

        if (!sending.Wait(HangLimit))
        {
            throw new FuzzFindingException("the client's send did not finish although the server closed");
        }

        WaitForIdle();
        Logger.ThrowIfLogged();
        return received;
    }

    /// <summary>Looks for the option reply that acknowledges <c>NBD_OPT_GO</c>, across receives.</summary>
    /// <param name="received">The bytes just received.</param>
    /// <param name="matched">How many bytes of the acknowledgement the previous receives ended with.</param>
    private static bool FindGoAcknowledgement(ReadOnlySpan<byte> received, ref int matched)
    {
        foreach (byte b in received)
        {
            matched = b == s_goAcknowledgement[matched] ? matched + 1 : b == s_goAcknowledgement[0] ? 1 : 0;
            if (matched == s_goAcknowledgement.Length)
            {
                return true;
            }
        }

        return false;
    }

    private static byte[] MakeGoAcknowledgement()
    {
        byte[] bytes = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, NbdProtocol.OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), NbdProtocol.OptGo);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), NbdProtocol.RepAck);
        return bytes;
    }

    private static void Send(Socket socket, byte[] first, byte[] then, ManualResetEventSlim goAcknowledged)
    {
        try
        {
            socket.Send(first);
            if (then.Length != 0)
            {
                goAcknowledged.Wait();
                socket.Send(then);
            }

            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server closed first (it drops a connection on a protocol violation); the rest is not read.
        }
        catch (ObjectDisposedException)
        {
            // The run ended (a hang reported) while this was still sending.
        }
    }

    private void WaitForIdle()
    {
        if (SpinWait.SpinUntil(IsIdle, HangLimit))
        {
            return;
        }

        throw new FuzzFindingException("connection closed but the server still holds it or its IO: " + Describe());
    }

    private bool IsIdle()
    {
        if (_server.ConnectionCount != 0)
        {
            return false;
        }

        foreach (NullBlock instance in _instances)
        {
            if (instance.Disk.InFlight != 0 || instance.Disk.TagSet.TagsInUse != 0)
            {
                return false;
            }
        }

        return true;
    }

    private string Describe()
    {
        string connections = string.Join("; ", _server.Connections.Select(static c => c.DescribeState()));
        string disks = string.Join("; ", _instances.Select(static i => $"{i.Disk.Name} inFlight={i.Disk.InFlight} tagsInUse={i.Disk.TagSet.TagsInUse}"));
        return $"{_server.ConnectionCount} connection(s) [{connections}], disks [{disks}]";
    }
}
