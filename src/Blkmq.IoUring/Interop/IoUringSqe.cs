using System.Runtime.InteropServices;

namespace Blkmq.IoUring.Interop;

/// <summary>
/// Mirrors <c>struct io_uring_sqe</c> (<c>linux/io_uring.h</c>, 64 bytes), with the union members the file driver
/// uses: <c>__u8 opcode; __u8 flags; __u16 ioprio; __s32 fd; union { __u64 off; __u64 addr2; }; union { __u64 addr;
/// }; __u32 len; union { __kernel_rwf_t rw_flags; __u32 fsync_flags; __u32 cancel_flags; ... }; __u64 user_data;
/// union { __u16 buf_index; __u16 buf_group; }; __u16 personality; union { __s32 splice_fd_in; __u32 file_index; };
/// __u64 addr3; __u64 __pad2[1];</c>. With
/// <c>IORING_SETUP_SQE128</c> another 64 bytes follow, the rest of <c>cmd</c> (from offset 48).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct IoUringSqe
{
    [FieldOffset(0)]
    public byte Opcode;

    [FieldOffset(1)]
    public byte Flags;

    [FieldOffset(2)]
    public ushort IoPriority;

    [FieldOffset(4)]
    public int Fd;

    /// <summary><c>off</c>: the file offset (also <c>addr2</c>).</summary>
    [FieldOffset(8)]
    public ulong Offset;

    /// <summary><c>cmd_op</c>: the command of an <c>IORING_OP_URING_CMD</c>, sharing <c>off</c>'s low half.</summary>
    [FieldOffset(8)]
    public uint CommandOp;

    /// <summary><c>addr</c>: the buffer or iovec array; the length for <c>IORING_OP_FALLOCATE</c>; the target's user_data for a cancel.</summary>
    [FieldOffset(16)]
    public ulong Address;

    /// <summary><c>len</c>: bytes, iovec count, or the mode for <c>IORING_OP_FALLOCATE</c>.</summary>
    [FieldOffset(24)]
    public uint Length;

    /// <summary>The operation's flags union: <c>rw_flags</c>, <c>fsync_flags</c>, <c>cancel_flags</c>.</summary>
    [FieldOffset(28)]
    public uint OpFlags;

    [FieldOffset(32)]
    public ulong UserData;

    [FieldOffset(40)]
    public ushort BufferIndex;

    [FieldOffset(42)]
    public ushort Personality;

    [FieldOffset(44)]
    public int FileIndex;

    [FieldOffset(48)]
    public ulong Address3;

    [FieldOffset(56)]
    public ulong Pad2;

    /// <summary>Offset of <c>cmd</c>: a <c>URING_CMD</c>'s command, 16 bytes in a 64-byte SQE, 80 in a 128-byte one.</summary>
    public const int CommandOffset = 48;

    /// <summary>Bytes of command a 128-byte SQE holds from <see cref="CommandOffset"/>.</summary>
    public const int BigCommandLength = 80;

    /// <summary>
    /// Gets the command area of <paramref name="sqe"/> (<c>sqe-&gt;cmd</c>): <see cref="BigCommandLength"/> bytes when
    /// the ring has 128-byte SQEs (the SQE must come from that ring's <c>TryGetSqe</c>).
    /// </summary>
    /// <param name="sqe">An SQE of a ring with 128-byte SQEs.</param>
    /// <returns>A pointer to the command, valid as long as the SQE is.</returns>
    public static unsafe byte* Command(IoUringSqe* sqe) => (byte*)sqe + CommandOffset;
}
