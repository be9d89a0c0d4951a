namespace Blkmq.IoUring;

/// <summary>The <c>IORING_SETUP_*</c> flags a ring may be created with (<c>io_uring_params.flags</c>).</summary>
internal static class IoUringSetup
{
    /// <summary><c>IORING_SETUP_CQSIZE</c>: the completion queue has <c>cq_entries</c> entries, not twice the SQ's.</summary>
    public const uint CqSize = 1u << 3;

    /// <summary><c>IORING_SETUP_SQE128</c>: 128-byte SQEs, for <c>IORING_OP_URING_CMD</c> with 80 bytes of command.</summary>
    public const uint Sqe128 = 1u << 10;
}
