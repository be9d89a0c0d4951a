using Blkmq.IoUring.Interop;

namespace Blkmq.IoUring;

/// <summary>
/// A small <see cref="IoUringRing"/> of 128-byte SQEs (<see cref="IoUringSetup.Sqe128"/>) for synchronous
/// <c>IORING_OP_URING_CMD</c> commands whose payload needs the 80-byte command area (ublk's control commands on
/// <c>/dev/ublk-control</c>). One command at a time: <see cref="Execute"/> fills one SQE, submits it and waits for its
/// completion. Not thread-safe; control paths are rare and slow, so callers serialize them with a lock.
/// </summary>
internal sealed unsafe class IoUringCommandRing : IDisposable
{
    /// <summary><c>IORING_OP_URING_CMD</c>: a command the file's driver interprets (<c>file_operations.uring_cmd</c>).</summary>
    public const byte OpUringCmd = IoUringOpcode.UringCommand;

    /// <summary>The size of a command area in a 128-byte SQE (from offset 48 to the end).</summary>
    public const int CommandAreaSize = IoUringSqe.BigCommandLength;

    private const int EINTR = 4;
    private const int EBUSY = 16;

    private readonly IoUringRing _ring;
    private bool _disposed;

    private IoUringCommandRing(IoUringRing ring) => _ring = ring;

    /// <summary>Creates a ring of 128-byte SQEs.</summary>
    /// <param name="entries">SQ entries (the kernel rounds up to a power of two).</param>
    /// <param name="ring">The ring, or <see langword="null"/> on failure.</param>
    /// <returns>0, or the errno (ENOSYS or EPERM when io_uring is refused, EINVAL before Linux 5.19).</returns>
    public static int TryCreate(uint entries, out IoUringCommandRing? ring)
    {
        int errno = IoUringRing.TryCreate(entries, IoUringSetup.Sqe128, 0, out IoUringRing? inner);
        ring = errno == 0 ? new IoUringCommandRing(inner!) : null;
        return errno;
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

        // One command at a time, and each is reaped before the next: the queue always has a free, cleared slot.
        IoUringSqe* sqe = _ring.TryGetSqe();
        if (sqe == null)
        {
            return -EBUSY;
        }

        sqe->Opcode = OpUringCmd;
        sqe->Fd = fd;
        sqe->CommandOp = commandOp;
        command.CopyTo(new Span<byte>(IoUringSqe.Command(sqe), CommandAreaSize));

        // Submit and wait. A signal (EINTR) may end the call before or after the kernel consumed the SQE: Submit
        // recounts what is unsubmitted each time, so calling again submits it at most once and waits for it.
        IoUringCqe cqe;
        while (!_ring.TryPeekCompletion(out cqe))
        {
            int entered = _ring.Submit(1);
            if (entered < 0 && entered != -EINTR)
            {
                return entered;
            }
        }

        _ring.AdvanceCompletion();
        return cqe.Result;
    }

    /// <summary>Unmaps and closes the ring.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _ring.Dispose();
    }
}
