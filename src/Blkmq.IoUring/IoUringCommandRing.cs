using System.Runtime.InteropServices;
using Blkmq.IoUring.Interop;

namespace Blkmq.IoUring;

/// <summary>
/// A small io_uring set up with <c>IORING_SETUP_SQE128</c> for synchronous <c>IORING_OP_URING_CMD</c> commands whose
/// payload needs the 80-byte command area of a 128-byte SQE (ublk's control commands on <c>/dev/ublk-control</c>).
/// One command at a time: <see cref="Execute"/> fills one SQE, submits it and waits for its completion.
/// Not thread-safe; control paths are rare and slow, so callers serialize them with a lock.
/// </summary>
/// <remarks>
/// Same ring protocol as <see cref="IoUringRing"/> (release store of the SQ tail after the SQE is written, acquire
/// load of the CQ tail before reading a CQE, release store of the CQ head after it), with SQE slots 128 bytes apart.
/// </remarks>
internal sealed unsafe class IoUringCommandRing : IDisposable
{
    /// <summary><c>IORING_OP_URING_CMD</c>: a command the file's driver interprets (<c>file_operations.uring_cmd</c>).</summary>
    public const byte OpUringCmd = 46;

    /// <summary><c>IORING_SETUP_SQE128</c>.</summary>
    public const uint SetupSqe128 = 1U << 10;

    /// <summary>The size of a command area in a 128-byte SQE (from offset 48 to the end).</summary>
    public const int CommandAreaSize = 80;

    private const int SqeSize = 128;
    private const int CommandOffset = 48;

    private readonly int _fd;
    private readonly nint _sqRing;
    private readonly nuint _sqRingSize;
    private readonly nint _sqes;
    private readonly nuint _sqesSize;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly IoUringCqe* _cqes;
    private bool _disposed;

    private IoUringCommandRing(int fd, in IoUringParams p, nint sqRing, nuint sqRingSize, nint sqes, nuint sqesSize)
    {
        _fd = fd;
        _sqRing = sqRing;
        _sqRingSize = sqRingSize;
        _sqes = sqes;
        _sqesSize = sqesSize;
        byte* ring = (byte*)sqRing;
        _sqTail = (uint*)(ring + p.SqOffsets.Tail);
        _sqMask = *(uint*)(ring + p.SqOffsets.RingMask);
        uint entries = *(uint*)(ring + p.SqOffsets.RingEntries);
        uint* array = (uint*)(ring + p.SqOffsets.Array);
        for (uint i = 0; i < entries; i++)
        {
            array[i] = i;
        }

        _cqHead = (uint*)(ring + p.CqOffsets.Head);
        _cqTail = (uint*)(ring + p.CqOffsets.Tail);
        _cqMask = *(uint*)(ring + p.CqOffsets.RingMask);
        _cqes = (IoUringCqe*)(ring + p.CqOffsets.Cqes);
    }

    /// <summary>Creates a ring of 128-byte SQEs.</summary>
    /// <param name="entries">SQ entries (the kernel rounds up to a power of two).</param>
    /// <param name="ring">The ring, or <see langword="null"/> on failure.</param>
    /// <returns>0, or the errno (ENOSYS or EPERM when io_uring is refused, EINVAL before Linux 5.19).</returns>
    public static int TryCreate(uint entries, out IoUringCommandRing? ring)
    {
        ring = null;
        IoUringParams p = default;
        p.Flags = SetupSqe128;
        int fd = IoUringNative.Setup(entries, &p);
        if (fd < 0)
        {
            return Marshal.GetLastPInvokeError();
        }

        if ((p.Features & IoUringNative.FeatSingleMmap) == 0)
        {
            // Every kernel with SQE128 (5.19+) has the single mapping.
            _ = IoUringNative.Close(fd);
            return 22; // EINVAL
        }

        nuint sqSize = p.SqOffsets.Array + (p.SqEntries * sizeof(uint));
        nuint cqSize = p.CqOffsets.Cqes + (p.CqEntries * (uint)sizeof(IoUringCqe));
        nuint size = Math.Max(sqSize, cqSize);
        nint sqRing = IoUringNative.Mmap(0, size, IoUringNative.ProtReadWrite, IoUringNative.MapShared | IoUringNative.MapPopulate, fd, IoUringNative.OffSqRing);
        if (sqRing == -1)
        {
            int errno = Marshal.GetLastPInvokeError();
            _ = IoUringNative.Close(fd);
            return errno;
        }

        nuint sqesSize = p.SqEntries * SqeSize;
        nint sqes = IoUringNative.Mmap(0, sqesSize, IoUringNative.ProtReadWrite, IoUringNative.MapShared | IoUringNative.MapPopulate, fd, IoUringNative.OffSqes);
        if (sqes == -1)
        {
            int errno = Marshal.GetLastPInvokeError();
            _ = IoUringNative.Munmap(sqRing, size);
            _ = IoUringNative.Close(fd);
            return errno;
        }

        ring = new IoUringCommandRing(fd, p, sqRing, size, sqes, sqesSize);
        return 0;
    }

    /// <summary>
    /// Submits one <c>IORING_OP_URING_CMD</c> on <paramref name="fd"/> and waits for its completion.
    /// </summary>
    /// <param name="fd">The file the command goes to.</param>
    /// <param name="commandOp">The driver's command (<c>cmd_op</c>), for ublk an ioctl-encoded <c>UBLK_U_CMD_*</c>.</param>
    /// <param name="command">The command area's bytes (at most <see cref="CommandAreaSize"/>); the rest is zero.</param>
    /// <returns>The completion's result: the command's value, or -errno.</returns>
    public int Execute(int fd, uint commandOp, ReadOnlySpan<byte> command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(command.Length, CommandAreaSize, nameof(command));
        uint tail = *_sqTail; // Only this thread writes the tail; one command at a time, so the slot is free.
        byte* sqe = (byte*)_sqes + ((tail & _sqMask) * SqeSize);
        new Span<byte>(sqe, SqeSize).Clear();
        var head = (IoUringSqe*)sqe;
        head->Opcode = OpUringCmd;
        head->Fd = fd;
        head->Offset = commandOp; // cmd_op: the low 32 bits of the off/addr2 union; __pad1 stays 0.
        command.CopyTo(new Span<byte>(sqe + CommandOffset, CommandAreaSize));
        // Release: the SQE is complete before the kernel can see the new tail.
        Volatile.Write(ref *_sqTail, tail + 1);
        int entered;
        do
        {
            entered = IoUringNative.Enter(_fd, 1, 1, IoUringNative.EnterGetEvents);
        }
        while (entered < 0 && Marshal.GetLastPInvokeError() == 4); // EINTR: the SQE was not consumed, try again

        if (entered < 0)
        {
            return -Marshal.GetLastPInvokeError();
        }

        uint cqHead = *_cqHead;
        while (cqHead == Volatile.Read(ref *_cqTail))
        {
            // Consumed but not complete yet (a signal ended the wait): wait for it.
            int waited = IoUringNative.Enter(_fd, 0, 1, IoUringNative.EnterGetEvents);
            if (waited < 0 && Marshal.GetLastPInvokeError() != 4)
            {
                return -Marshal.GetLastPInvokeError();
            }
        }

        int result = _cqes[cqHead & _cqMask].Result;
        Volatile.Write(ref *_cqHead, cqHead + 1);
        return result;
    }

    /// <summary>Unmaps and closes the ring.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _ = IoUringNative.Munmap(_sqes, _sqesSize);
        _ = IoUringNative.Munmap(_sqRing, _sqRingSize);
        _ = IoUringNative.Close(_fd);
    }
}
