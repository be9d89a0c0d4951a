namespace Blkmq.Fuse.Interop;

/// <summary>
/// The kernel's FUSE protocol (<c>include/uapi/linux/fuse.h</c>, version 7): the opcodes, flags and message
/// structures this export uses. Every message is in the machine's byte order; each struct mirrors the C struct named
/// in its summary, field for field.
/// </summary>
internal static class FuseProtocol
{
    public const uint KernelVersion = 7;

    /// <summary>The newest minor version whose <c>fuse_init_out</c> layout (64 bytes) we send.</summary>
    public const uint KernelMinorVersion = 38;

    /// <summary>The oldest minor version we accept: 7.28 brought <c>max_pages</c> in <c>fuse_init_out</c>.</summary>
    public const uint OldestMinorVersion = 28;

    public const ulong RootNodeId = 1;

    public const int InHeaderLength = 40;
    public const int OutHeaderLength = 16;

    // Init flags (fuse_init_in.flags / fuse_init_out.flags).
    public const uint AsyncRead = 1u << 0;
    public const uint AtomicOTrunc = 1u << 3;
    public const uint BigWrites = 1u << 5;
    public const uint AsyncDio = 1u << 15;
    public const uint ParallelDirops = 1u << 18;
    public const uint MaxPages = 1u << 22;

    // Open reply flags.
    public const uint OpenDirectIO = 1u << 0;

    // fuse_setattr_in.valid bits.
    public const uint AttrMode = 1u << 0;
    public const uint AttrUid = 1u << 1;
    public const uint AttrGid = 1u << 2;
    public const uint AttrSize = 1u << 3;
    public const uint AttrAtime = 1u << 4;
    public const uint AttrMtime = 1u << 5;
    public const uint AttrAtimeNow = 1u << 7;
    public const uint AttrMtimeNow = 1u << 8;

    // fallocate(2) modes.
    public const uint FallocKeepSize = 0x01;
    public const uint FallocPunchHole = 0x02;
    public const uint FallocZeroRange = 0x10;

    // File types and modes (sys/stat.h).
    public const uint ModeDirectory = 0x4000;
    public const uint ModeRegular = 0x8000;
    public const uint DirentTypeDirectory = 4;
    public const uint DirentTypeRegular = 8;
}
