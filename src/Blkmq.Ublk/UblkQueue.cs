using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Blkmq.Frontend;
using Blkmq.IoUring;
using Blkmq.IoUring.Interop;
using Blkmq.Ublk.Interop;
using Microsoft.Extensions.Logging;

namespace Blkmq.Ublk;

/// <summary>
/// One ublk hardware queue: a thread that owns an io_uring on <c>/dev/ublkcN</c>, keeps a FETCH_REQ (later a
/// COMMIT_AND_FETCH_REQ) outstanding for every tag, turns each request the kernel hands over into a Blkmq IO on the
/// export's device, and commits its result on the same ring.
/// </summary>
/// <remarks>
/// <para>Per-tag protocol: the kernel completes tag t's outstanding command when it has a request for t; the request
/// is described by <c>iod[t]</c> in the mapped descriptor array, and data moves through t's buffer (the kernel copied
/// a write's data into it before; it copies a read's data out of it after the commit). With USER_COPY the queue makes
/// those copies itself: <c>pread</c> of a write's data from <c>/dev/ublkcN</c> at
/// <see cref="UblkConstants.UserCopyOffset"/> before the IO, <c>pwrite</c> of a read's data there before the commit
/// (allowed from any thread while the server owns t). The server owns t until it
/// commits; COMMIT_AND_FETCH_REQ both ends the request and re-arms t. The kernel answers a command with
/// <c>UBLK_IO_RES_ABORT</c> once the device is stopping: t is then dead.</para>
/// <para>Completions: an IO that completes inline is committed at once. Otherwise the tag's preallocated continuation
/// runs on the completing thread: it reads the status, pushes the tag on a lock-free stack (a Treiber stack: many
/// pushers, one thread that takes the whole list at once, so no ABA) and, when the ring thread has not been woken since
/// it last looked, writes the queue's eventfd, on which the ring always has a read outstanding. The ring thread resets
/// the wake flag with a full fence before it takes the stack, so a push either is seen by that take or writes the
/// eventfd again. Nothing here allocates per IO.</para>
/// </remarks>
internal sealed unsafe class UblkQueue : IDisposable
{
    /// <summary>Words of a CPU mask (<c>cpu_set_t</c>: 1024 CPUs).</summary>
    public const int AffinityWords = 16;

    private const ulong WakeToken = ulong.MaxValue;
    private const int Eopnotsupp = 95;
    private const int Eintr = 4;
    private const int Eagain = 11;
    private const int Ebusy = 16;
    private const int Eio = 5;

    private readonly UblkDevice _device;
    private readonly int _queueId;
    private readonly int _depth;
    private readonly int _bufferSize;
    private readonly int _cdevFd;
    private readonly UblkIoDesc* _descriptors;
    private readonly byte* _buffers;
    private readonly bool _userCopy;
    private readonly ulong[]? _appendSectors;
    private readonly ValueTask<long>[]? _appends;
    private readonly ulong[]? _affinity;
    private readonly BlockZone[]? _zones;
    private readonly Memory<byte> _memory;
    private readonly ExportTarget _target;
    private readonly BlockDevice _blockDevice;
    private readonly ILogger _logger;
    private readonly ValueTask<BlockStatus>[] _pending;
    private readonly int[] _okResults;
    private readonly bool[] _copyOut;
    private readonly int[] _results;
    private readonly int[] _next;
    private readonly Action[] _continuations;
    private readonly ulong* _wakeBuffer;
    private readonly ManualResetEventSlim _fetched = new();
    private readonly Thread _thread;
    private IoUringRing? _ring;
    private int _eventFd = -1;
    private int _completedHead = -1;
    private int _wakePending;
    private volatile bool _stopRequested;
    private int _held;
    private int _aborted;
    private int _startError;

    /// <summary>Initializes a new instance of the <see cref="UblkQueue"/> class; <see cref="Start"/> starts its thread.</summary>
    /// <param name="device">The device the queue belongs to.</param>
    /// <param name="queueId">The queue's index.</param>
    /// <param name="depth">Tags in the queue.</param>
    /// <param name="bufferSize">Bytes of each tag's buffer (the device's max IO size).</param>
    /// <param name="cdevFd">The open <c>/dev/ublkcN</c>.</param>
    /// <param name="descriptors">The queue's mapped descriptor array.</param>
    /// <param name="buffers">Native memory of <paramref name="depth"/> × <paramref name="bufferSize"/> bytes, page aligned.</param>
    /// <param name="userCopy">Whether the device has USER_COPY: this queue moves the data with <c>pread</c> / <c>pwrite</c>.</param>
    /// <param name="zoned">Whether the device is zoned (with USER_COPY): zone operations, zone append, REPORT_ZONES.</param>
    /// <param name="target">The disk served.</param>
    /// <param name="affinity">The CPUs the kernel queues this queue's requests from (GET_QUEUE_AFFINITY), or null.</param>
    /// <param name="logger">The logger.</param>
    public UblkQueue(UblkDevice device, int queueId, int depth, int bufferSize, int cdevFd, UblkIoDesc* descriptors, byte* buffers, bool userCopy, bool zoned, ExportTarget target, ulong[]? affinity, ILogger logger)
    {
        _device = device;
        _queueId = queueId;
        _depth = depth;
        _bufferSize = bufferSize;
        _cdevFd = cdevFd;
        _descriptors = descriptors;
        _buffers = buffers;
        _userCopy = userCopy;
        if (zoned)
        {
            _appendSectors = new ulong[depth];
            _appends = new ValueTask<long>[depth];
            _zones = new BlockZone[bufferSize / sizeof(BlkZone)];
        }

        _memory = new NativeBufferMemoryManager(buffers, checked(depth * bufferSize)).Memory;
        _target = target;
        _affinity = affinity;
        _blockDevice = target.Device;
        _logger = logger;
        _pending = new ValueTask<BlockStatus>[depth];
        _okResults = new int[depth];
        _copyOut = new bool[depth];
        _results = new int[depth];
        _next = new int[depth];
        _continuations = new Action[depth];
        for (int tag = 0; tag < depth; tag++)
        {
            int t = tag;
            _continuations[tag] = () => OnIoCompleted(t);
        }

        _wakeBuffer = (ulong*)NativeMemory.AlignedAlloc(64, 64);
        _thread = new Thread(Run)
        {
            IsBackground = true,
            Name = $"ublk{device.DeviceId}q{queueId}",
        };
    }

    /// <summary>Gets whether the thread has ended (the device stopped or the ring failed).</summary>
    public bool HasExited => !_thread.IsAlive;

    /// <summary>
    /// Starts the queue's thread and waits until it has issued FETCH_REQ for every tag (START_DEV needs that).
    /// </summary>
    /// <returns>0, or the errno of the step that failed on the thread.</returns>
    public int Start()
    {
        _thread.Start();
        _fetched.Wait();
        return _startError;
    }

    /// <summary>Asks the thread to end once no IO is in flight in Blkmq, and waits for it.</summary>
    public void Stop()
    {
        _stopRequested = true;
        Wake();
        _thread.Join();
        // Closed only here, after the thread ended: a Wake racing with the thread's exit never writes to a reused fd.
        if (_eventFd >= 0)
        {
            _ = UblkNative.Close(_eventFd);
            _eventFd = -1;
        }

    }

    /// <summary>Frees what the queue allocated; after <see cref="Stop"/>, or when the thread never started.</summary>
    public void Dispose()
    {
        if (_thread.IsAlive)
        {
            return; // never free what a running thread uses
        }

        NativeMemory.AlignedFree(_wakeBuffer);
        _fetched.Dispose();
    }

    private void Run()
    {
        // This thread does IO for the block layer: reclaim must not wait on it (libublk does the same).
        _ = UblkNative.Prctl(UblkNative.PrSetIoFlusher, 1, 0, 0, 0);
        RunOnQueueCpus();
        try
        {
            if (!Setup())
            {
                return;
            }

            Loop();
        }
        finally
        {
            _ring?.Dispose(); // Cancels the commands still outstanding.
            _fetched.Set();
        }
    }

    /// <summary>
    /// Binds the thread to the CPUs the kernel maps to this queue, as ublksrv does: the task that queues a request
    /// wakes the ring thread on its own CPU, the commit's completion work runs where the request was made, and the
    /// Blkmq IO is submitted from those CPUs, so it lands on the Blkmq hardware queue they map to. Only CPUs this
    /// process may use count (a cpuset); when none is left the thread stays unbound.
    /// </summary>
    private void RunOnQueueCpus()
    {
        if (_affinity is null)
        {
            return;
        }

        ulong* mask = stackalloc ulong[AffinityWords];
        if (UblkNative.SchedGetAffinity(0, AffinityWords * sizeof(ulong), mask) != 0)
        {
            return;
        }

        bool any = false;
        for (int i = 0; i < AffinityWords; i++)
        {
            mask[i] &= _affinity[i];
            any |= mask[i] != 0;
        }

        if (any)
        {
            _ = UblkNative.SchedSetAffinity(0, AffinityWords * sizeof(ulong), mask);
        }
    }

    private bool Setup()
    {
        _eventFd = UblkNative.EventFd(0, UblkNative.EventFdCloseOnExec);
        if (_eventFd < 0)
        {
            _startError = Marshal.GetLastPInvokeError();
            return false;
        }

        uint entries = System.Numerics.BitOperations.RoundUpToPowerOf2((uint)_depth + 2);
        int error = IoUringRing.TryCreate(entries, out _ring);
        if (error == 0)
        {
            error = _ring!.RegisterFiles([_cdevFd]);
        }

        if (error != 0)
        {
            _startError = error;
            return false;
        }

        for (int tag = 0; tag < _depth; tag++)
        {
            PrepareIoCommand(UblkConstants.IoFetchReq, tag, 0);
        }

        ArmWake();
        int submitted = SubmitAll();
        if (submitted < 0)
        {
            _startError = -submitted;
            return false;
        }

        _fetched.Set();
        return true;
    }

    private void Loop()
    {
        IoUringRing ring = _ring!;
        while (true)
        {
            int result = ring.Submit(1);
            if (result < 0 && result != -Eintr && result != -Eagain && result != -Ebusy)
            {
                UblkLog.RingFailed(_logger, _device.DeviceId, _queueId, -result);
                _device.OnQueueFailed();
                WaitForHeld();
                return;
            }

            while (ring.TryPeekCompletion(out IoUringCqe cqe))
            {
                ring.AdvanceCompletion();
                if (cqe.UserData == WakeToken)
                {
                    // Re-armed even while stopping: IO still in Blkmq wakes the thread through it.
                    ArmWake();
                    continue;
                }

                OnCommandCompleted((int)cqe.UserData, cqe.Result);
            }

            DrainCompleted();
            if (_aborted == _depth && _held == 0)
            {
                UblkLog.QueueAborted(_logger, _device.DeviceId, _queueId);
                return;
            }

            if (_stopRequested && _held == 0)
            {
                return;
            }
        }
    }

    /// <summary>After a ring failure: IO still in Blkmq writes into our buffers; wait for it before they are freed.</summary>
    private void WaitForHeld()
    {
        while (_held > 0)
        {
            Thread.Sleep(10);
            DrainCompleted();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void OnCommandCompleted(int tag, int result)
    {
        if (result == 0)
        {
            StartIo(tag);
        }
        else if (result == UblkConstants.IoResultAbort)
        {
            _aborted++;
        }
        else
        {
            // A command the kernel refused (a commit after the device died, a bad buffer): the tag is dead.
            CommandFailed(tag, result);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CommandFailed(int tag, int result)
    {
        UblkLog.CommandFailed(_logger, _device.DeviceId, _queueId, tag, result);
        _aborted++;
    }

    /// <summary>Turns the request in <c>iod[tag]</c> into a Blkmq IO; commits at once when it completes inline.</summary>
    private void StartIo(int tag)
    {
        UblkIoDesc d = _descriptors[tag];
        long offset = (long)d.StartSector << 9;
        long length = (long)d.NrSectors << 9;
        ValueTask<BlockStatus> io;
        int okResult = 0;
        switch (d.Op)
        {
            case UblkConstants.OpRead:
            {
                if (length > _bufferSize)
                {
                    Commit(tag, -BlockStatusMapping.ToErrno(BlockStatus.Invalid));
                    return;
                }

                Memory<byte> buffer = _memory.Slice(tag * _bufferSize, (int)length);
                _target.PrepareReadBuffer(buffer.Span);
                io = _blockDevice.ReadStatusAsync(offset, buffer);
                okResult = (int)length;
                break;
            }

            case UblkConstants.OpWrite:
            {
                if (length > _bufferSize)
                {
                    Commit(tag, -BlockStatusMapping.ToErrno(BlockStatus.Invalid));
                    return;
                }

                if (_userCopy && !_target.IsReadOnly)
                {
                    int copied = CopyFromRequest(tag, (int)length);
                    if (copied < 0)
                    {
                        Commit(tag, copied);
                        return;
                    }
                }

                RequestFlags flags = (d.OpFlags & UblkConstants.IoFlagFua) != 0 ? RequestFlags.Fua : RequestFlags.None;
                io = _target.IsReadOnly
                    ? new ValueTask<BlockStatus>(BlockStatus.ReadOnly)
                    : _blockDevice.WriteStatusAsync(offset, _memory.Slice(tag * _bufferSize, (int)length), flags);
                okResult = (int)length;
                break;
            }

            case UblkConstants.OpFlush:
                io = _blockDevice.FlushStatusAsync();
                break;
            case UblkConstants.OpDiscard:
                io = _target.IsReadOnly ? new ValueTask<BlockStatus>(BlockStatus.ReadOnly) : _blockDevice.DiscardStatusAsync(offset, length);
                break;
            case UblkConstants.OpWriteZeroes:
                io = _target.IsReadOnly
                    ? new ValueTask<BlockStatus>(BlockStatus.ReadOnly)
                    : _blockDevice.WriteZeroesStatusAsync(offset, length, (d.OpFlags & UblkConstants.IoFlagNoUnmap) == 0);
                break;
            case UblkConstants.OpZoneOpen:
                io = UblkZoneOperations.ManageStatusAsync(_blockDevice, RequestOp.ZoneOpen, offset);
                break;
            case UblkConstants.OpZoneClose:
                io = UblkZoneOperations.ManageStatusAsync(_blockDevice, RequestOp.ZoneClose, offset);
                break;
            case UblkConstants.OpZoneFinish:
                io = UblkZoneOperations.ManageStatusAsync(_blockDevice, RequestOp.ZoneFinish, offset);
                break;
            case UblkConstants.OpZoneReset:
                io = UblkZoneOperations.ManageStatusAsync(_blockDevice, RequestOp.ZoneReset, offset);
                break;
            case UblkConstants.OpZoneResetAll:
                io = UblkZoneOperations.ManageStatusAsync(_blockDevice, RequestOp.ZoneResetAll, 0);
                break;
            case UblkConstants.OpZoneAppend:
            {
                if (_appendSectors is null || length > _bufferSize)
                {
                    Commit(tag, -Eopnotsupp);
                    return;
                }

                int copied = CopyFromRequest(tag, (int)length);
                if (copied < 0)
                {
                    Commit(tag, copied);
                    return;
                }

                StartAppend(tag, offset, (int)length, (d.OpFlags & UblkConstants.IoFlagFua) != 0 ? RequestFlags.Fua : RequestFlags.None);
                return;
            }

            case UblkConstants.OpReportZones:
                // NrSectors holds nr_zones here (a union in struct ublksrv_io_desc).
                Commit(tag, ReportZones(tag, offset, (int)d.NrSectors));
                return;
            default:
                Commit(tag, -Eopnotsupp);
                return;
        }

        bool copyOut = _userCopy && d.Op == UblkConstants.OpRead;
        if (io.IsCompleted)
        {
            Commit(tag, Result(tag, io.Result, okResult, copyOut));
            return;
        }

        _okResults[tag] = okResult;
        _copyOut[tag] = copyOut;
        _pending[tag] = io;
        _held++;
        io.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_continuations[tag]);
    }

    /// <summary>
    /// A zone append: the sector it went to rides on the commit (<c>zone_append_lba</c>). Awaited like every other IO,
    /// through the tag's preallocated continuation, so an append that completes on another thread allocates nothing.
    /// </summary>
    private void StartAppend(int tag, long zoneOffset, int length, RequestFlags flags)
    {
        ValueTask<long> append;
        try
        {
            append = _blockDevice.ZoneAppendAsync(zoneOffset, _memory.Slice(tag * _bufferSize, length), flags);
        }
        catch (ArgumentException)
        {
            Commit(tag, -BlockStatusMapping.ToErrno(BlockStatus.Invalid)); // not a zone start, or too long
            return;
        }

        if (append.IsCompleted)
        {
            Commit(tag, AppendResult(tag, append, length));
            return;
        }

        _okResults[tag] = length;
        _appends![tag] = append;
        _held++;
        append.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_continuations[tag]);
    }

    /// <summary>The commit result of a completed append: its length with the sector recorded, or -errno.</summary>
    private int AppendResult(int tag, ValueTask<long> append, int length)
    {
        try
        {
            _appendSectors![tag] = (ulong)append.Result >> 9;
            return length;
        }
        catch (BlockIOException ex)
        {
            return -BlockStatusMapping.ToErrno(ex.Status);
        }
    }

    /// <summary>A tag's IO completed on some thread: record the result and hand the tag to the ring thread.</summary>
    private void OnIoCompleted(int tag)
    {
        if (_appends is not null && _descriptors[tag].Op == UblkConstants.OpZoneAppend)
        {
            ValueTask<long> append = _appends[tag];
            _appends[tag] = default;
            _results[tag] = AppendResult(tag, append, _okResults[tag]);
        }
        else
        {
            BlockStatus status = _pending[tag].Result;
            _pending[tag] = default;
            // A read's data goes to the request here, on the completing thread, sparing the ring thread the copy.
            _results[tag] = Result(tag, status, _okResults[tag], _copyOut[tag]);
        }

        int head;
        do
        {
            head = Volatile.Read(ref _completedHead);
            _next[tag] = head;
        }
        while (Interlocked.CompareExchange(ref _completedHead, tag, head) != head);

        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            WriteEventFd();
        }
    }

    /// <summary>
    /// REPORT_ZONES: describes <paramref name="zoneCount"/> zones from the one holding <paramref name="offset"/> as
    /// <c>struct blk_zone</c>s in the tag's buffer and writes them to the request; entries past the last zone stay
    /// zero (a zero length ends the report). The request is always answered in full: a partial answer would be
    /// requeued by the kernel.
    /// </summary>
    /// <returns>The bytes written, or -errno.</returns>
    private int ReportZones(int tag, long offset, int zoneCount)
    {
        int bytes = zoneCount * sizeof(BlkZone);
        if (_zones is null || zoneCount <= 0 || zoneCount > _zones.Length)
        {
            return -BlockStatusMapping.ToErrno(BlockStatus.Invalid);
        }

        int filled;
        try
        {
            filled = _blockDevice.ReportZones(offset, _zones.AsSpan(0, zoneCount));
        }
        catch (Exception ex) when (ex is NotSupportedException or ArgumentOutOfRangeException)
        {
            return -BlockStatusMapping.ToErrno(BlockStatus.Invalid);
        }

        byte* buffer = _buffers + ((long)tag * _bufferSize);
        new Span<byte>(buffer, bytes).Clear();
        var report = (BlkZone*)buffer;
        for (int i = 0; i < filled; i++)
        {
            BlockZone zone = _zones[i];
            report[i].Start = (ulong)zone.Start >> 9;
            report[i].Length = (ulong)zone.Length >> 9;
            report[i].Capacity = (ulong)zone.Capacity >> 9;
            report[i].WritePointer = zone.WritePointer < 0 ? ulong.MaxValue : (ulong)zone.WritePointer >> 9;
            report[i].Type = (byte)zone.Type;
            report[i].Condition = (byte)zone.Condition;
        }

        return CopyToRequest(tag, bytes);
    }

    /// <summary>The commit result of a finished IO: bytes or -errno; a USER_COPY read first copies its data to the request.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Result(int tag, BlockStatus status, int okResult, bool copyOut)
    {
        if (status != BlockStatus.Ok)
        {
            return -BlockStatusMapping.ToErrno(status);
        }

        return copyOut ? CopyToRequest(tag, okResult) : okResult;
    }

    /// <summary>USER_COPY: reads a write request's data from <c>/dev/ublkcN</c> into the tag's buffer.</summary>
    /// <returns>The bytes copied (all of them), or -errno.</returns>
    private int CopyFromRequest(int tag, int length) => CopyUser(tag, length, toRequest: false);

    /// <summary>USER_COPY: writes a read request's data from the tag's buffer to <c>/dev/ublkcN</c>.</summary>
    /// <returns>The bytes copied (all of them), or -errno.</returns>
    private int CopyToRequest(int tag, int length) => CopyUser(tag, length, toRequest: true);

    // pread or pwrite of the tag's buffer at the request's USER_COPY offset, until all of it moved or an error.
    private int CopyUser(int tag, int length, bool toRequest)
    {
        byte* buffer = _buffers + ((long)tag * _bufferSize);
        long position = UblkConstants.UserCopyOffset(_queueId, tag, 0);
        int done = 0;
        while (done < length)
        {
            nint n = toRequest
                ? UblkNative.Pwrite(_cdevFd, buffer + done, (nuint)(length - done), position + done)
                : UblkNative.Pread(_cdevFd, buffer + done, (nuint)(length - done), position + done);
            if (n <= 0)
            {
                int errno = n == 0 ? Eio : Marshal.GetLastPInvokeError();
                if (errno == Eintr)
                {
                    continue;
                }

                return -errno;
            }

            done += (int)n;
        }

        return done;
    }

    /// <summary>Commits every tag whose IO completed elsewhere (ring thread only).</summary>
    private void DrainCompleted()
    {
        if (Volatile.Read(ref _completedHead) < 0)
        {
            return;
        }

        // Full fence before the take: a push after it sees 0 and writes the eventfd again.
        _ = Interlocked.Exchange(ref _wakePending, 0);
        int tag = Interlocked.Exchange(ref _completedHead, -1);
        while (tag >= 0)
        {
            int next = _next[tag];
            _held--;
            // After STOP_DEV the kernel answers this commit with an error or ABORT: harmless.
            Commit(tag, _results[tag]);
            tag = next;
        }
    }

    /// <summary>Wakes the ring thread whatever the wake flag says: the stop flag must be seen (rare path).</summary>
    private void Wake() => WriteEventFd();

    private void WriteEventFd()
    {
        ulong one = 1;
        int fd = Volatile.Read(ref _eventFd);
        if (fd >= 0)
        {
            _ = UblkNative.Write(fd, &one, sizeof(ulong));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Commit(int tag, int result) => PrepareIoCommand(UblkConstants.IoCommitAndFetchReq, tag, result);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrepareIoCommand(uint op, int tag, int result)
    {
        IoUringSqe* sqe = GetSqe();
        sqe->Opcode = IoUringCommandRing.OpUringCmd;
        sqe->Flags = IoUringOpcode.SqeFixedFile;
        sqe->Fd = 0; // index 0 of the registered files: /dev/ublkcN
        sqe->Offset = op; // cmd_op
        sqe->UserData = (ulong)tag;
        // struct ublksrv_io_cmd in the 16-byte command area at offset 48: q_id, tag, result, then addr (the tag's
        // buffer; 0 with USER_COPY, where the kernel refuses any address).
        sqe->Address3 = (ushort)_queueId | ((ulong)(ushort)tag << 16) | ((ulong)(uint)result << 32);
        sqe->Pad2 = !_userCopy ? (ulong)(_buffers + ((long)tag * _bufferSize)) : _appendSectors is null ? 0 : TakeAppendSector(tag);
    }

    /// <summary>A zoned device's commit carries the sector a zone append went to (0 for any other request).</summary>
    private ulong TakeAppendSector(int tag)
    {
        ulong sector = _appendSectors![tag];
        _appendSectors[tag] = 0;
        return sector;
    }

    private void ArmWake()
    {
        IoUringSqe* sqe = GetSqe();
        sqe->Opcode = IoUringOpcode.Read;
        sqe->Fd = _eventFd;
        sqe->Address = (ulong)_wakeBuffer;
        sqe->Length = sizeof(ulong);
        sqe->Offset = ulong.MaxValue; // -1: the file's position (an eventfd has none)
        sqe->UserData = WakeToken;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private IoUringSqe* GetSqe()
    {
        IoUringSqe* sqe = _ring!.TryGetSqe();
        return sqe != null ? sqe : GetSqeSlow();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private IoUringSqe* GetSqeSlow()
    {
        IoUringSqe* sqe;
        while ((sqe = _ring!.TryGetSqe()) == null)
        {
            int result = _ring.Submit(0);
            Debug.Assert(result >= 0 || result == -Eintr || result == -Eagain || result == -Ebusy, "Submit failed while the SQ was full.");
        }

        return sqe;
    }

    private int SubmitAll()
    {
        while (_ring!.Unsubmitted > 0)
        {
            int result = _ring.Submit(0);
            if (result < 0 && result != -Eintr && result != -Eagain)
            {
                return result;
            }
        }

        return 0;
    }
}
