using System.Runtime.InteropServices;
using Blkmq.Frontend;
using Blkmq.Fuse.Interop;
using Blkmq.Metrics;
using Microsoft.Extensions.Logging;

namespace Blkmq.Fuse;

/// <summary>
/// One mounted FUSE connection: worker threads that each read a request from <c>/dev/fuse</c> (a read returns exactly
/// one), serve it against the disk and write its reply, until the kernel ends the connection (a read fails with
/// <c>ENODEV</c> after the unmount or an abort). The file system is the root directory (node 1) and one file per
/// disk (nodes 2, 3, ...).
/// </summary>
/// <remarks>
/// Each worker owns one pinned request buffer and one pinned reply buffer, so a READ's data goes from the disk
/// straight behind its reply header and a WRITE's data from the request buffer straight to the disk: one copy each
/// way, the kernel's. Attributes the kernel may change (mode, owner, times) live in each <see cref="FuseNode"/>.
/// </remarks>
internal sealed unsafe partial class FuseSession
{
    /// <summary>The largest read or write: <c>max_read</c>, <c>max_write</c>, 256 pages (the kernel's default limit).</summary>
    public const int MaxTransfer = 1 << 20;

    private const ulong FirstFileNodeId = 2;
    private const int MaxPages = MaxTransfer / 4096;

    // A WRITE request: in-header, fuse_write_in, data. The kernel wants room for a whole page of headers.
    private const int RequestBufferSize = MaxTransfer + 4096;
    private const int WriteInLength = 40;

    // Dentries and attributes may be cached this long: only this process changes them.
    private const ulong AttributeValidSeconds = 1;

    private const int NoReply = int.MinValue;

    private readonly int _fd;
    private readonly FuseNode[] _nodes;
    private readonly bool _directIO;
    private readonly ILogger _logger;
    private readonly FuseTimestamp _mounted = FuseTimestamp.Now();
    private readonly uint _uid = Libc.GetEffectiveUserId();
    private readonly uint _gid = Libc.GetEffectiveGroupId();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FrontendCounters _counters;
    private readonly FrontendCounterShard _connectionCounters;
    private int _running;
    private int _closed;

    public FuseSession(int fd, IReadOnlyList<FuseFile> files, bool directIO, ILogger logger, FrontendCounters counters)
    {
        _fd = fd;
        _counters = counters;

        // The mount is the one connection; each worker counts its requests in a shard of its own.
        _connectionCounters = counters.OpenConnection();
        _directIO = directIO;
        _logger = logger;
        _nodes = new FuseNode[files.Count];
        for (int i = 0; i < files.Count; i++)
        {
            _nodes[i] = new FuseNode(FirstFileNodeId + (ulong)i, files[i], _uid, _gid);
        }
    }

    public Task Completion => _completion.Task;

    /// <summary>Starts <paramref name="threads"/> workers; the first request they read is the kernel's INIT.</summary>
    public void Start(int threads)
    {
        _running = threads;
        for (int i = 0; i < threads; i++)
        {
            var thread = new Thread(static state => ((FuseSession)state!).Run())
            {
                IsBackground = true,
                Name = "fuse " + i.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            thread.Start(this);
        }
    }

    /// <summary>Closes the device descriptor, once every worker has stopped.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _connectionCounters.Dispose();
            _ = Libc.Close(_fd);
        }
    }

    private void Run()
    {
        byte[] request = GC.AllocateUninitializedArray<byte>(RequestBufferSize, pinned: true);
        byte[] reply = GC.AllocateUninitializedArray<byte>(FuseProtocol.OutHeaderLength + MaxTransfer, pinned: true);
        FrontendCounterShard counters = _counters.AddWorker();
        try
        {
            while (true)
            {
                nint read;
                fixed (byte* buffer = request)
                {
                    read = Libc.Read(_fd, buffer, (nuint)request.Length);
                }

                if (read < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();

                    // ENOENT: the request was interrupted before we read it. ENODEV: unmounted or aborted.
                    if (errno is Libc.EINTR or Libc.EAGAIN or Libc.ENOENT)
                    {
                        continue;
                    }

                    if (errno != Libc.ENODEV)
                    {
                        FuseLog.ReadFailed(_logger, errno);
                    }

                    return;
                }

                if (read >= FuseProtocol.InHeaderLength)
                {
                    Handle(request, (int)read, reply, counters);
                }
            }
        }
        finally
        {
            counters.Dispose();
            if (Interlocked.Decrement(ref _running) == 0)
            {
                _completion.TrySetResult();
            }
        }
    }

    private void Handle(byte[] request, int length, byte[] reply, FrontendCounterShard counters)
    {
        int replyLength = Serve(request, length, reply, counters);
        if (replyLength != 0)
        {
            Send(MemoryMarshal.Read<FuseInHeader>(request), reply, replyLength);
        }
    }

    /// <summary>
    /// Serves one request as read from the device (<paramref name="length"/> bytes of <paramref name="request"/>, at
    /// least the in-header) and formats its reply, header included, into <paramref name="reply"/>.
    /// </summary>
    /// <returns>The reply's length, or 0 when the request takes no reply.</returns>
    internal int Serve(byte[] request, int length, byte[] reply, FrontendCounterShard? counters = null)
    {
        FuseInHeader header = MemoryMarshal.Read<FuseInHeader>(request);
        ReadOnlySpan<byte> args = request.AsSpan(FuseProtocol.InHeaderLength, length - FuseProtocol.InHeaderLength);
        if (counters is not null)
        {
            Count(header.Opcode, args, counters);
        }

        Span<byte> body = reply.AsSpan(FuseProtocol.OutHeaderLength);
        int result;
        try
        {
            // The kernel sends every opcode's fixed arguments whole; a request too short for them is refused before
            // an operation reads past its end.
            result = args.Length < FixedArgumentLength(header.Opcode) ? -Libc.EINVAL : Dispatch(header, args, request, body, reply);
        }
#pragma warning disable CA1031 // A worker lets no request's failure escape: the kernel still gets a reply, the mount keeps serving.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            FuseLog.HandlerThrew(_logger, e, header.Opcode.ToString());
            result = -Libc.EIO;
        }

        if (result == NoReply)
        {
            return 0;
        }

        var outHeader = new FuseOutHeader
        {
            Length = (uint)(FuseProtocol.OutHeaderLength + Math.Max(result, 0)),
            Error = Math.Min(result, 0),
            Unique = header.Unique,
        };
        MemoryMarshal.Write(reply, in outHeader);
        return (int)outHeader.Length;
    }

    /// <summary>Serves one request: returns the reply body's length, a negative errno, or <see cref="NoReply"/>.</summary>
    private int Dispatch(in FuseInHeader header, ReadOnlySpan<byte> args, byte[] request, Span<byte> body, byte[] reply) => header.Opcode switch
    {
        FuseOpcode.Init => Init(args, body),
        FuseOpcode.Lookup => Lookup(header.NodeId, args, body),
        FuseOpcode.GetAttr => GetAttr(header.NodeId, body),
        FuseOpcode.SetAttr => SetAttr(header.NodeId, args, body),
        FuseOpcode.Open => Open(header.NodeId, args, body),
        FuseOpcode.Read => Read(header.NodeId, args, reply),
        FuseOpcode.Write => Write(header.NodeId, args, request, body),
        FuseOpcode.Fsync => Fsync(header.NodeId),
        FuseOpcode.Fallocate => Fallocate(header.NodeId, args),
        FuseOpcode.StatFs => StatFs(body),
        FuseOpcode.OpenDir => header.NodeId == FuseProtocol.RootNodeId ? OpenReply(body, 0) : -Libc.ENOTDIR,
        FuseOpcode.ReadDir => ReadDir(header.NodeId, args, body),
        FuseOpcode.Flush or FuseOpcode.Release or FuseOpcode.ReleaseDir or FuseOpcode.FsyncDir or FuseOpcode.Access => 0,
        FuseOpcode.Destroy => 0,

        // One fixed file: nothing can be made, removed or renamed.
        FuseOpcode.Create or FuseOpcode.MkNod or FuseOpcode.MkDir or FuseOpcode.Unlink or FuseOpcode.RmDir
            or FuseOpcode.Rename or FuseOpcode.Rename2 or FuseOpcode.Link or FuseOpcode.Symlink => -Libc.EPERM,
        FuseOpcode.ReadLink => -Libc.EINVAL,

        // No reply is expected: forgetting lookups (the two nodes live as long as the mount), and interrupts (every
        // request is answered anyway, and quickly).
        FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt => NoReply,

        // Extended attributes and anything newer: ENOSYS makes the kernel stop asking (it would otherwise ask for
        // security.capability before every write).
        _ => -Libc.ENOSYS,
    };

    /// <summary>Counts a request in this worker's front-end counters: its kind and, for a read or write, the bytes asked for.</summary>
    private static void Count(FuseOpcode opcode, ReadOnlySpan<byte> args, FrontendCounterShard counters)
    {
        switch (opcode)
        {
            case FuseOpcode.Read or FuseOpcode.Write when args.Length >= Marshal.SizeOf<FuseIoIn>():
                counters.Count(
                    opcode == FuseOpcode.Read ? FrontendRequestKind.Read : FrontendRequestKind.Write,
                    MemoryMarshal.Read<FuseIoIn>(args).Size);
                break;
            case FuseOpcode.Fsync:
                counters.Count(FrontendRequestKind.Flush, 0);
                break;
            case FuseOpcode.Fallocate when args.Length >= Marshal.SizeOf<FuseFallocateIn>():
                uint mode = MemoryMarshal.Read<FuseFallocateIn>(args).Mode & ~FuseProtocol.FallocKeepSize;
                counters.Count(
                    mode switch
                    {
                        FuseProtocol.FallocPunchHole => FrontendRequestKind.Discard,
                        FuseProtocol.FallocZeroRange => FrontendRequestKind.WriteZeroes,
                        _ => FrontendRequestKind.Other,
                    },
                    0);
                break;
            default:
                counters.Count(FrontendRequestKind.Other, 0);
                break;
        }
    }

    /// <summary>Gets the length of the fixed argument struct an opcode's operation reads: 0 when it reads none.</summary>
    private static int FixedArgumentLength(FuseOpcode opcode) => opcode switch
    {
        FuseOpcode.Init => sizeof(FuseInitIn), // the part of fuse_init_in every kernel since 7.6 sends
        FuseOpcode.SetAttr => sizeof(FuseSetAttrIn),
        FuseOpcode.Open => sizeof(FuseOpenIn),
        FuseOpcode.Read or FuseOpcode.ReadDir or FuseOpcode.Write => sizeof(FuseIoIn), // fuse_read_in, fuse_write_in
        FuseOpcode.Fallocate => sizeof(FuseFallocateIn),
        _ => 0,
    };

    private void Send(in FuseInHeader request, byte[] reply, int length)
    {
        nint written;
        fixed (byte* buffer = reply)
        {
            written = Libc.Write(_fd, buffer, (nuint)length);
        }

        // ENOENT: the request was interrupted or aborted meanwhile and nobody waits for the reply any more.
        if (written < 0 && Marshal.GetLastPInvokeError() is int errno && errno != Libc.ENOENT && errno != Libc.ENODEV)
        {
            FuseLog.ReplyFailed(_logger, request.Unique, request.Opcode.ToString(), errno);
        }
    }

    /// <summary>
    /// Waits for a device IO started on this worker (the disks answer most inline, without a task) and turns its status
    /// into the reply's result: <paramref name="success"/>, or the negative errno of the shared map.
    /// </summary>
    private static int Wait(ValueTask<BlockStatus> io, int success)
    {
        BlockStatus status = io.IsCompletedSuccessfully ? io.Result : io.AsTask().GetAwaiter().GetResult();
        return status == BlockStatus.Ok ? success : -BlockStatusMapping.ToErrno(status);
    }

    /// <summary>Finds the file named <paramref name="name"/>.</summary>
    /// <returns>The node, or null.</returns>
    public FuseNode? FindFile(string name)
    {
        foreach (FuseNode node in _nodes)
        {
            if (node.Export.Name == name)
            {
                return node;
            }
        }

        return null;
    }
}
