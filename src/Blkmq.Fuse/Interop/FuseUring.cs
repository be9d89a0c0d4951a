namespace Blkmq.Fuse.Interop;

/// <summary>
/// FUSE over io_uring (<c>include/uapi/linux/fuse.h</c> 7.42, <c>fs/fuse/dev_uring.c</c>): the INIT flag, the
/// <c>IORING_OP_URING_CMD</c> commands and the layouts the kernel reads and writes.
/// </summary>
/// <remarks>
/// <para>A ring entry is two buffers given with <c>FUSE_IO_URING_CMD_REGISTER</c> as an iovec pair: the header,
/// <c>struct fuse_uring_req_header { char in_out[128]; char op_in[128]; struct fuse_uring_ent_in_out ring_ent_in_out; }</c>
/// (the request's <c>fuse_in_header</c>, then the reply's <c>fuse_out_header</c>, in <c>in_out</c>; the opcode's own
/// header, e.g. <c>fuse_write_in</c>, in <c>op_in</c>), and the payload (a WRITE's data, a LOOKUP's name; the reply's
/// body). <c>struct fuse_uring_ent_in_out { __u64 flags; __u64 commit_id; __u32 payload_sz; __u32 padding; __u64
/// reserved; }</c> says which request it is and how many payload bytes are valid, both ways.</para>
/// <para>The command (<c>sqe-&gt;cmd</c> of a 128-byte SQE) is <c>struct fuse_uring_cmd_req { __u64 flags; __u64
/// commit_id; __u16 qid; __u8 padding[6]; }</c>.</para>
/// </remarks>
internal static class FuseUring
{
    /// <summary><c>FUSE_INIT_EXT</c>: <c>flags2</c> of <c>fuse_init_in</c> / <c>fuse_init_out</c> is valid.</summary>
    public const uint InitExt = 1u << 30;

    /// <summary><c>FUSE_OVER_IO_URING</c> (bit 41) as a bit of <c>flags2</c>.</summary>
    public const uint OverIoUringFlags2 = 1u << (41 - 32);

    /// <summary>Offset of <c>flags2</c> in <c>fuse_init_in</c> and <c>fuse_init_out</c>'s <c>flags2</c> field.</summary>
    public const int InitInFlags2Offset = 16;

    /// <summary><c>FUSE_IO_URING_CMD_REGISTER</c>: give the kernel an entry's buffers and wait for a request in them.</summary>
    public const uint CommandRegister = 1;

    /// <summary><c>FUSE_IO_URING_CMD_COMMIT_AND_FETCH</c>: the reply is in the entry's buffers; wait for the next request.</summary>
    public const uint CommandCommitAndFetch = 2;

    public const int InOutOffset = 0;
    public const int OpInOffset = 128;
    public const int OpInLength = 128;
    public const int CommitIdOffset = 256 + 8;
    public const int PayloadSizeOffset = 256 + 16;

    /// <summary><c>sizeof(struct fuse_uring_req_header)</c>: the least the header buffer may be.</summary>
    public const int HeaderLength = 256 + 32;

    // fuse_uring_cmd_req, within the SQE's command area.
    public const int CommandFlagsOffset = 0;
    public const int CommandCommitIdOffset = 8;
    public const int CommandQueueOffset = 16;

    /// <summary>Where the kernel says whether it offers FUSE over io_uring: Y or N.</summary>
    public const string EnableParameter = "/sys/module/fuse/parameters/enable_uring";

    /// <summary>Reads <see cref="EnableParameter"/>: true for Y, false for N or when there is no such parameter (an older kernel).</summary>
    public static bool IsEnabledInKernel()
    {
        try
        {
            return File.ReadAllText(EnableParameter).Trim() is "Y" or "1";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The kernel's queue count, <c>num_possible_cpus()</c>, from <c>/sys/devices/system/cpu/possible</c> ("0-3,8").</summary>
    public static int PossibleCpus()
    {
        try
        {
            int count = 0;
            foreach (string range in File.ReadAllText("/sys/devices/system/cpu/possible").Trim().Split(','))
            {
                string[] bounds = range.Split('-');
                int first = int.Parse(bounds[0], System.Globalization.CultureInfo.InvariantCulture);
                int last = bounds.Length > 1 ? int.Parse(bounds[1], System.Globalization.CultureInfo.InvariantCulture) : first;
                count += last - first + 1;
            }

            return count;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return Environment.ProcessorCount;
        }
    }
}
