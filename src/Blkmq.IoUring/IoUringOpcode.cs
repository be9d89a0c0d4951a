namespace Blkmq.IoUring;

/// <summary>The io_uring operations and flags this library's users prepare (<c>enum io_uring_op</c>, <c>IOSQE_*</c>).</summary>
internal static class IoUringOpcode
{
    public const byte Nop = 0;
    public const byte ReadV = 1;
    public const byte WriteV = 2;
    public const byte Fsync = 3;
    public const byte AsyncCancel = 14;
    public const byte Fallocate = 17;
    public const byte Read = 22;
    public const byte Write = 23;

    /// <summary><c>IORING_OP_URING_CMD</c>: a command the file's driver defines (<c>cmd_op</c>, <c>cmd</c>), e.g. FUSE's.</summary>
    public const byte UringCommand = 46;

    /// <summary><c>IOSQE_FIXED_FILE</c>: the SQE's fd is an index into the registered files.</summary>
    public const byte SqeFixedFile = 1;

    /// <summary><c>IORING_FSYNC_DATASYNC</c>: fdatasync rather than fsync.</summary>
    public const uint FsyncDataSync = 1;
}
