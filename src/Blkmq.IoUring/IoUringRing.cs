using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Blkmq.IoUring.Interop;

namespace Blkmq.IoUring;

/// <summary>
/// One io_uring instance: the submission queue, its SQE array and the completion queue, mapped into this process,
/// spoken to with raw <c>io_uring_enter</c>. Not thread-safe: one thread owns a ring, prepares SQEs, submits them and
/// reaps the completions (the model io_uring is built for).
/// </summary>
/// <remarks>
/// <para>Protocol (the one liburing implements): the application writes SQEs at its private tail, then publishes
/// them by storing the SQ tail with release semantics, so the kernel sees complete SQEs; it reads the SQ head (the
/// kernel's consumer index) with acquire semantics to know which SQEs are free again. On the completion side the
/// kernel is the producer: the application reads the CQ tail with acquire semantics before reading the CQEs up to it,
/// and stores the CQ head with release semantics after it has read them, handing the entries back to the kernel.</para>
/// <para>The SQ index array is filled once with the identity, so SQE <c>i</c> always sits at array slot <c>i</c>
/// and publishing is only a tail store.</para>
/// </remarks>
internal sealed unsafe class IoUringRing : IDisposable
{
    private readonly int _fd;
    private readonly nint _sqRing;
    private readonly nuint _sqRingSize;
    private readonly nint _cqRing;
    private readonly nuint _cqRingSize; // 0 when the CQ ring shares the SQ ring's mapping (IORING_FEAT_SINGLE_MMAP)
    private readonly nint _sqesMemory;
    private readonly nuint _sqesSize;
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly IoUringSqe* _sqes;
    private readonly int _sqeShift; // log2 of the SQE size: 6, or 7 with IORING_SETUP_SQE128
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly IoUringCqe* _cqes;
    private uint _sqeTail;
    private int _enterFd; // the ring's descriptor, or its index among the thread's registered rings
    private uint _enterFlags; // IORING_ENTER_REGISTERED_RING with a registered index
    private bool _filesRegistered;
    private bool _disposed;

    private IoUringRing(int fd, in IoUringParams p, nint sqRing, nuint sqRingSize, nint cqRing, nuint cqRingSize, nint sqes, nuint sqesSize)
    {
        _fd = fd;
        _enterFd = fd;
        _sqeShift = (p.Flags & IoUringSetup.Sqe128) != 0 ? 7 : 6;
        _sqRing = sqRing;
        _sqRingSize = sqRingSize;
        _cqRing = cqRing;
        _cqRingSize = cqRingSize;
        _sqesMemory = sqes;
        _sqesSize = sqesSize;
        byte* sq = (byte*)sqRing;
        byte* cq = (byte*)cqRing;
        _sqHead = (uint*)(sq + p.SqOffsets.Head);
        _sqTail = (uint*)(sq + p.SqOffsets.Tail);
        _sqMask = *(uint*)(sq + p.SqOffsets.RingMask);
        SubmissionEntries = *(uint*)(sq + p.SqOffsets.RingEntries);
        uint* array = (uint*)(sq + p.SqOffsets.Array);
        for (uint i = 0; i < SubmissionEntries; i++)
        {
            array[i] = i;
        }

        _sqes = (IoUringSqe*)sqes;
        _cqHead = (uint*)(cq + p.CqOffsets.Head);
        _cqTail = (uint*)(cq + p.CqOffsets.Tail);
        _cqMask = *(uint*)(cq + p.CqOffsets.RingMask);
        CompletionEntries = *(uint*)(cq + p.CqOffsets.RingEntries);
        _cqes = (IoUringCqe*)(cq + p.CqOffsets.Cqes);
        _sqeTail = *_sqTail;
    }

    /// <summary>Gets the ring's file descriptor.</summary>
    public int FileDescriptor => _fd;

    /// <summary>Gets the number of SQEs the submission queue holds.</summary>
    public uint SubmissionEntries { get; }

    /// <summary>Gets the number of CQEs the completion queue holds.</summary>
    public uint CompletionEntries { get; }

    /// <summary>Gets the number of SQEs prepared or published that the kernel has not consumed yet.</summary>
    public uint Unsubmitted => _sqeTail - Volatile.Read(ref *_sqHead);

    /// <summary>Gets the most SQEs one <see cref="Submit"/> has handed the kernel (the owner thread's; for tests and diagnostics).</summary>
    public uint LargestSubmit { get; private set; }

    /// <summary>Gets whether SQEs are 128 bytes (<see cref="IoUringSetup.Sqe128"/>): <c>URING_CMD</c> carries 80 bytes of command in place.</summary>
    public bool HasBigSqes => _sqeShift == 7;

    /// <summary>Creates a ring with at least <paramref name="entries"/> submission entries.</summary>
    /// <param name="entries">SQ entries, 1 to 32768 (the kernel rounds up to a power of two).</param>
    /// <param name="ring">The ring, or <see langword="null"/> on failure.</param>
    /// <returns>0, or the errno of the step that failed (ENOSYS or EPERM when io_uring is refused).</returns>
    public static int TryCreate(uint entries, out IoUringRing? ring) => TryCreate(entries, 0, 0, out ring);

    /// <summary>
    /// Creates a ring with at least <paramref name="entries"/> submission entries and the setup flags of
    /// <see cref="IoUringSetup"/>: <see cref="IoUringSetup.Sqe128"/> for 128-byte SQEs (<c>URING_CMD</c> of FUSE and
    /// ublk), <see cref="IoUringSetup.CqSize"/> with <paramref name="completionEntries"/>.
    /// </summary>
    /// <param name="entries">SQ entries, 1 to 32768 (the kernel rounds up to a power of two).</param>
    /// <param name="flags">The <c>IORING_SETUP_*</c> flags.</param>
    /// <param name="completionEntries">CQ entries with <see cref="IoUringSetup.CqSize"/>; otherwise ignored.</param>
    /// <param name="ring">The ring, or <see langword="null"/> on failure.</param>
    /// <returns>0, or the errno of the step that failed (EINVAL for flags this kernel does not know).</returns>
    public static int TryCreate(uint entries, uint flags, uint completionEntries, out IoUringRing? ring)
    {
        ring = null;
        IoUringParams p = default;
        p.Flags = flags;
        p.CqEntries = (flags & IoUringSetup.CqSize) != 0 ? completionEntries : 0;
        int fd = IoUringNative.Setup(entries, &p);
        if (fd < 0)
        {
            return Marshal.GetLastPInvokeError();
        }

        nuint sqSize = p.SqOffsets.Array + (p.SqEntries * sizeof(uint));
        nuint cqSize = p.CqOffsets.Cqes + (p.CqEntries * (uint)sizeof(IoUringCqe));
        bool single = (p.Features & IoUringNative.FeatSingleMmap) != 0;
        if (single)
        {
            sqSize = cqSize = Math.Max(sqSize, cqSize);
        }

        nint sqRing = IoUringNative.Mmap(0, sqSize, IoUringNative.ProtReadWrite, IoUringNative.MapShared | IoUringNative.MapPopulate, fd, IoUringNative.OffSqRing);
        if (sqRing == -1)
        {
            return Fail(fd, 0, 0, 0, 0);
        }

        nint cqRing = sqRing;
        if (!single)
        {
            cqRing = IoUringNative.Mmap(0, cqSize, IoUringNative.ProtReadWrite, IoUringNative.MapShared | IoUringNative.MapPopulate, fd, IoUringNative.OffCqRing);
            if (cqRing == -1)
            {
                return Fail(fd, sqRing, sqSize, 0, 0);
            }
        }

        nuint sqesSize = p.SqEntries * (uint)sizeof(IoUringSqe) * ((p.Flags & IoUringSetup.Sqe128) != 0 ? 2u : 1u);
        nint sqes = IoUringNative.Mmap(0, sqesSize, IoUringNative.ProtReadWrite, IoUringNative.MapShared | IoUringNative.MapPopulate, fd, IoUringNative.OffSqes);
        if (sqes == -1)
        {
            return Fail(fd, sqRing, sqSize, single ? 0 : cqRing, cqSize);
        }

        ring = new IoUringRing(fd, p, sqRing, sqSize, cqRing, single ? 0 : cqSize, sqes, sqesSize);
        return 0;
    }

    /// <summary>
    /// Gets the next free SQE, cleared, at the private tail; it is published by the next <see cref="Submit"/>.
    /// Returns <see langword="null"/> when the submission queue is full (submit first). With
    /// <see cref="HasBigSqes"/> the SQE is 128 bytes, all cleared: its command area is
    /// <see cref="IoUringSqe.Command"/>.
    /// </summary>
    /// <returns>The SQE to fill, valid until the next <see cref="Submit"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public IoUringSqe* TryGetSqe()
    {
        // Acquire: an SQE slot is reused only after the kernel's head moved past it (it finished reading it).
        uint head = Volatile.Read(ref *_sqHead);
        if (_sqeTail - head >= SubmissionEntries)
        {
            return null;
        }

        IoUringSqe* sqe = (IoUringSqe*)((byte*)_sqes + ((nuint)(_sqeTail & _sqMask) << _sqeShift));
        *sqe = default;
        if (_sqeShift == 7)
        {
            sqe[1] = default; // the second half: the rest of a URING_CMD's command
        }

        _sqeTail++;
        return sqe;
    }

    /// <summary>
    /// Publishes the prepared SQEs and enters the kernel once: submits them all and, when <paramref name="waitFor"/>
    /// is positive, waits until that many completions are ready.
    /// </summary>
    /// <param name="waitFor">Completions to wait for; 0 only submits.</param>
    /// <returns>The number of SQEs the kernel consumed, or -errno (EINTR, EAGAIN, EBUSY: call again).</returns>
    public int Submit(uint waitFor)
    {
        // Release: every SQE written before this store is visible to the kernel once it sees the new tail.
        Volatile.Write(ref *_sqTail, _sqeTail);
        uint toSubmit = Unsubmitted;
        if (toSubmit == 0 && waitFor == 0)
        {
            return 0;
        }

        if (toSubmit > LargestSubmit)
        {
            LargestSubmit = toSubmit;
        }

        int result = IoUringNative.Enter(_enterFd, toSubmit, waitFor, _enterFlags | (waitFor > 0 ? IoUringNative.EnterGetEvents : 0));
        return result < 0 ? -Marshal.GetLastPInvokeError() : result;
    }

    /// <summary>Reads the oldest completion without consuming it.</summary>
    /// <param name="cqe">The completion.</param>
    /// <returns>Whether a completion was ready.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPeekCompletion(out IoUringCqe cqe)
    {
        uint head = *_cqHead; // Only this thread writes the head.
        // Acquire: the CQE up to the kernel's tail is fully written before we read it.
        if (head == Volatile.Read(ref *_cqTail))
        {
            cqe = default;
            return false;
        }

        cqe = _cqes[head & _cqMask];
        return true;
    }

    /// <summary>Hands the oldest completion back to the kernel, after <see cref="TryPeekCompletion"/> read it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AdvanceCompletion()
    {
        Debug.Assert(*_cqHead != Volatile.Read(ref *_cqTail), "No completion to advance over.");
        // Release: our read of the CQE happens before the kernel may overwrite the slot.
        Volatile.Write(ref *_cqHead, *_cqHead + 1);
    }

    /// <summary>Registers files for <see cref="IoUringOpcode.SqeFixedFile"/> SQEs (<c>IORING_REGISTER_FILES</c>): index i names <paramref name="fds"/>[i].</summary>
    /// <param name="fds">The descriptors; -1 leaves a slot empty.</param>
    /// <returns>0, or the errno.</returns>
    public int RegisterFiles(ReadOnlySpan<int> fds)
    {
        fixed (int* p = fds)
        {
            int result = IoUringNative.Register(_fd, IoUringNative.RegisterFiles, p, (uint)fds.Length);
            if (result < 0)
            {
                return Marshal.GetLastPInvokeError();
            }

            _filesRegistered = true;
            return 0;
        }
    }

    /// <summary>
    /// Drops the files <see cref="RegisterFiles"/> registered (<c>IORING_UNREGISTER_FILES</c>, synchronous: they are
    /// no longer the ring's when it returns), for a ring whose owner closes them before the ring itself goes; IOs still
    /// in flight keep their own references. Fixed-file SQEs fail after this.
    /// </summary>
    public void UnregisterFiles()
    {
        if (_filesRegistered)
        {
            _filesRegistered = false;
            _ = IoUringNative.Register(_fd, IoUringNative.UnregisterFiles, null, 0);
        }
    }

    /// <summary>
    /// Registers the ring's descriptor with the calling thread (<c>IORING_REGISTER_RING_FDS</c>, Linux 5.18+): from then
    /// on every <c>io_uring_enter</c> names it by index (<c>IORING_ENTER_REGISTERED_RING</c>) and the kernel skips the
    /// descriptor table's lookup and reference count. The registration belongs to the thread: only it may submit after,
    /// and it must be the one that disposes the ring.
    /// </summary>
    /// <returns>0, or the errno (the ring keeps entering by its descriptor then).</returns>
    public int RegisterRingFd()
    {
        var update = new IoUringRsrcUpdate { Offset = uint.MaxValue, Data = (ulong)_fd };
        int result = IoUringNative.Register(_fd, IoUringNative.RegisterRingFds, &update, 1);
        if (result != 1)
        {
            return result < 0 ? Marshal.GetLastPInvokeError() : 22; // EINVAL
        }

        _enterFd = (int)update.Offset;
        _enterFlags = IoUringNative.EnterRegisteredRing;
        return 0;
    }

    /// <summary>Unmaps the rings and closes the ring; the kernel cancels what is still in flight.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_enterFlags != 0)
        {
            // The thread's reference to the ring: without this the ring would live on until the thread ends.
            var update = new IoUringRsrcUpdate { Offset = (uint)_enterFd };
            _ = IoUringNative.Register(_fd, IoUringNative.UnregisterRingFds, &update, 1);
        }

        // Synchronous: the files are no longer the ring's when it returns, whereas closing the ring lets the kernel
        // drop them later, from a work item.
        UnregisterFiles();

        _ = IoUringNative.Munmap(_sqesMemory, _sqesSize);
        if (_cqRingSize != 0)
        {
            _ = IoUringNative.Munmap(_cqRing, _cqRingSize);
        }

        _ = IoUringNative.Munmap(_sqRing, _sqRingSize);
        _ = IoUringNative.Close(_fd);
    }

    private static int Fail(int fd, nint sqRing, nuint sqSize, nint cqRing, nuint cqSize)
    {
        int errno = Marshal.GetLastPInvokeError();
        if (cqRing != 0)
        {
            _ = IoUringNative.Munmap(cqRing, cqSize);
        }

        if (sqRing != 0)
        {
            _ = IoUringNative.Munmap(sqRing, sqSize);
        }

        _ = IoUringNative.Close(fd);
        return errno;
    }
}
