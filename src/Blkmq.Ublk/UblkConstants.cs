namespace Blkmq.Ublk;

/// <summary>
/// The numbers of <c>linux/ublk_cmd.h</c> (Linux 6.12): ioctl-encoded commands (<c>UBLK_U_*</c>), operations, flags,
/// attributes and device states.
/// </summary>
internal static class UblkConstants
{
    // Control commands: _IOR / _IOWR('u', nr, struct ublksrv_ctrl_cmd), 32-byte payload.
    public const uint CmdGetQueueAffinity = EncodeRead | (32 << 16) | ('u' << 8) | 0x01;
    public const uint CmdGetDevInfo = EncodeRead | (32 << 16) | ('u' << 8) | 0x02;
    public const uint CmdAddDev = EncodeReadWrite | (32 << 16) | ('u' << 8) | 0x04;
    public const uint CmdDelDev = EncodeReadWrite | (32 << 16) | ('u' << 8) | 0x05;
    public const uint CmdStartDev = EncodeReadWrite | (32 << 16) | ('u' << 8) | 0x06;
    public const uint CmdStopDev = EncodeReadWrite | (32 << 16) | ('u' << 8) | 0x07;
    public const uint CmdSetParams = EncodeReadWrite | (32 << 16) | ('u' << 8) | 0x08;
    public const uint CmdGetParams = EncodeRead | (32 << 16) | ('u' << 8) | 0x09;
    public const uint CmdStartUserRecovery = EncodeReadWrite | (32 << 16) | ('u' << 8) | 0x10;
    public const uint CmdEndUserRecovery = EncodeReadWrite | (32 << 16) | ('u' << 8) | 0x11;
    public const uint CmdGetFeatures = EncodeRead | (32 << 16) | ('u' << 8) | 0x13;

    // IO commands: _IOWR('u', nr, struct ublksrv_io_cmd), 16-byte payload (fits a 64-byte SQE).
    public const uint IoFetchReq = EncodeReadWrite | (16 << 16) | ('u' << 8) | 0x20;
    public const uint IoCommitAndFetchReq = EncodeReadWrite | (16 << 16) | ('u' << 8) | 0x21;

    /// <summary><c>UBLK_IO_RES_ABORT</c>: -ENODEV, the device is going away; the tag will not be fetched again.</summary>
    public const int IoResultAbort = -19;

    /// <summary><c>UBLKSRV_CMD_BUF_OFFSET</c>: where the IO descriptor arrays are mapped from in <c>/dev/ublkcN</c>.</summary>
    public const long CmdBufOffset = 0;

    /// <summary><c>UBLKSRV_IO_BUF_OFFSET</c>: where the request data of USER_COPY lies in <c>/dev/ublkcN</c>.</summary>
    public const long IoBufOffset = 0x80000000;

    /// <summary><c>UBLK_TAG_OFF</c> (= <c>UBLK_IO_BUF_BITS</c>, 25: at most 32 MiB per request).</summary>
    public const int TagShift = 25;

    /// <summary><c>UBLK_QID_OFF</c> (<c>UBLK_TAG_OFF + UBLK_TAG_BITS</c>, 16 tag bits).</summary>
    public const int QueueIdShift = TagShift + 16;

    /// <summary><c>UBLK_MAX_QUEUE_DEPTH</c>.</summary>
    public const int MaxQueueDepth = 4096;

    /// <summary><c>UBLK_MAX_NR_QUEUES</c>.</summary>
    public const int MaxQueues = 4096;

    // UBLK_IO_OP_*
    public const byte OpRead = 0;
    public const byte OpWrite = 1;
    public const byte OpFlush = 2;
    public const byte OpDiscard = 3;
    public const byte OpWriteSame = 4;
    public const byte OpWriteZeroes = 5;
    public const byte OpZoneOpen = 10;
    public const byte OpZoneClose = 11;
    public const byte OpZoneFinish = 12;
    public const byte OpZoneAppend = 13;
    public const byte OpZoneResetAll = 14;
    public const byte OpZoneReset = 15;
    public const byte OpReportZones = 18;

    // UBLK_IO_F_*
    public const uint IoFlagFua = 1U << 13;
    public const uint IoFlagNoUnmap = 1U << 15;

    // UBLK_F_*
    public const ulong FlagSupportZeroCopy = 1UL << 0;
    public const ulong FlagUringCmdCompInTask = 1UL << 1;
    public const ulong FlagNeedGetData = 1UL << 2;
    public const ulong FlagUserRecovery = 1UL << 3;
    public const ulong FlagUserRecoveryReissue = 1UL << 4;
    public const ulong FlagUnprivilegedDev = 1UL << 5;
    public const ulong FlagCmdIoctlEncode = 1UL << 6;
    public const ulong FlagUserCopy = 1UL << 7;
    public const ulong FlagZoned = 1UL << 8;

    // UBLK_ATTR_*
    public const uint AttrReadOnly = 1U << 0;
    public const uint AttrRotational = 1U << 1;
    public const uint AttrVolatileCache = 1U << 2;
    public const uint AttrFua = 1U << 3;

    // UBLK_PARAM_TYPE_*
    public const uint ParamTypeBasic = 1U << 0;
    public const uint ParamTypeDiscard = 1U << 1;
    public const uint ParamTypeDevt = 1U << 2;
    public const uint ParamTypeZoned = 1U << 3;

    // UBLK_S_DEV_*
    public const ushort StateDead = 0;
    public const ushort StateLive = 1;
    public const ushort StateQuiesced = 2;

    // _IOC direction bits: _IOC_WRITE = 1, _IOC_READ = 2, at bit 30.
    private const uint EncodeRead = 2U << 30;
    private const uint EncodeReadWrite = 3U << 30;

    /// <summary>
    /// Gets where queue <paramref name="queueId"/>'s descriptor array lies in <c>/dev/ublkcN</c>:
    /// <c>UBLKSRV_CMD_BUF_OFFSET + q_id * ublk_max_cmd_buf_size()</c>, that size being
    /// <c>round_up(UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc), PAGE_SIZE)</c>.
    /// </summary>
    public static long DescriptorOffset(int queueId, int pageSize) =>
        CmdBufOffset + ((long)queueId * RoundUp(MaxQueueDepth * 24, pageSize));

    /// <summary>
    /// Gets the position in <c>/dev/ublkcN</c> at which <c>pread</c> / <c>pwrite</c> reach byte
    /// <paramref name="byteOffset"/> of the request on tag <paramref name="tag"/> of queue <paramref name="queueId"/>
    /// (USER_COPY): <c>UBLKSRV_IO_BUF_OFFSET + (q_id &lt;&lt; UBLK_QID_OFF) + (tag &lt;&lt; UBLK_TAG_OFF) + offset</c>.
    /// </summary>
    /// <remarks>Valid for a queue id below 4096, a tag below 65536 and an offset below 32 MiB, which
    /// <see cref="UblkDeviceOptions.Validate"/> guarantees; the kernel decodes each field with its mask.</remarks>
    public static long UserCopyOffset(int queueId, int tag, int byteOffset) =>
        IoBufOffset + ((long)queueId << QueueIdShift) + ((long)tag << TagShift) + byteOffset;

    /// <summary>Gets the bytes to map for a queue of <paramref name="depth"/> descriptors.</summary>
    public static long DescriptorMapSize(int depth, int pageSize) => RoundUp((long)depth * 24, pageSize);

    /// <summary>Names the <c>UBLK_F_*</c> flags set in <paramref name="flags"/>, for logs and <c>blkmq ublk list</c>.</summary>
    public static string DescribeFlags(ulong flags)
    {
        string[] names = ["zero_copy", "comp_in_task", "need_get_data", "user_recovery", "user_recovery_reissue", "unprivileged", "ioctl_encode", "user_copy", "zoned"];
        var parts = new List<string>();
        for (int bit = 0; bit < 64; bit++)
        {
            if ((flags & (1UL << bit)) != 0)
            {
                parts.Add(bit < names.Length ? names[bit] : "bit" + bit.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return parts.Count == 0 ? "none" : string.Join(',', parts);
    }

    private static long RoundUp(long value, int pageSize) => (value + pageSize - 1) / pageSize * pageSize;
}
