using System.Runtime.CompilerServices;
using Blkmq.Drivers.Null;
using Blkmq.Ublk;
using Blkmq.Ublk.Interop;

namespace Blkmq.Tests.Ublk;

/// <summary>
/// The ublk structs and command numbers against <c>linux/ublk_cmd.h</c> (Linux 6.12): sizes and offsets of the C
/// structs, the ioctl encoding of the commands, and SET_PARAMS built from a disk's limits.
/// </summary>
public sealed class UblkEncodingTests
{
    [Fact]
    public void Structs_HaveTheKernelSizes()
    {
        Assert.Equal(32, Unsafe.SizeOf<UblkCtrlCmd>());
        Assert.Equal(64, Unsafe.SizeOf<UblkCtrlDevInfo>());
        Assert.Equal(24, Unsafe.SizeOf<UblkIoDesc>());
        Assert.Equal(32, Unsafe.SizeOf<UblkParamBasic>());
        Assert.Equal(20, Unsafe.SizeOf<UblkParamDiscard>());
        Assert.Equal(16, Unsafe.SizeOf<UblkParamDevt>());
        Assert.Equal(32, Unsafe.SizeOf<UblkParamZoned>());
        Assert.Equal(112, Unsafe.SizeOf<UblkParams>());
        Assert.Equal(64, Unsafe.SizeOf<BlkZone>());
    }

    [Fact]
    public void Structs_FieldsSitAtTheKernelOffsets()
    {
        UblkParams p = default;
        Assert.Equal(8, Offset(ref p, ref p.Basic));
        Assert.Equal(40, Offset(ref p, ref p.Discard));
        Assert.Equal(60, Offset(ref p, ref p.Devt));
        Assert.Equal(76, Offset(ref p, ref p.Zoned));
        Assert.Equal(16, Offset(ref p.Basic, ref p.Basic.DevSectors));
        UblkCtrlDevInfo info = default;
        Assert.Equal(8, Offset(ref info, ref info.MaxIoBufBytes));
        Assert.Equal(12, Offset(ref info, ref info.DevId));
        Assert.Equal(16, Offset(ref info, ref info.UblksrvPid));
        Assert.Equal(24, Offset(ref info, ref info.Flags));
        UblkCtrlCmd cmd = default;
        Assert.Equal(8, Offset(ref cmd, ref cmd.Address));
        Assert.Equal(16, Offset(ref cmd, ref cmd.Data0));
        BlkZone zone = default;
        Assert.Equal(16, Offset(ref zone, ref zone.WritePointer));
        Assert.Equal(24, Offset(ref zone, ref zone.Type));
        Assert.Equal(25, Offset(ref zone, ref zone.Condition));
        Assert.Equal(32, Offset(ref zone, ref zone.Capacity));
        UblkIoDesc desc = default;
        Assert.Equal(8, Offset(ref desc, ref desc.StartSector));
        Assert.Equal(16, Offset(ref desc, ref desc.Address));
    }

    [Theory]
    [InlineData(UblkConstants.CmdGetDevInfo, 0x80207502u)]
    [InlineData(UblkConstants.CmdAddDev, 0xC0207504u)]
    [InlineData(UblkConstants.CmdDelDev, 0xC0207505u)]
    [InlineData(UblkConstants.CmdStartDev, 0xC0207506u)]
    [InlineData(UblkConstants.CmdStopDev, 0xC0207507u)]
    [InlineData(UblkConstants.CmdSetParams, 0xC0207508u)]
    [InlineData(UblkConstants.CmdGetParams, 0x80207509u)]
    [InlineData(UblkConstants.CmdStartUserRecovery, 0xC0207510u)]
    [InlineData(UblkConstants.CmdEndUserRecovery, 0xC0207511u)]
    [InlineData(UblkConstants.CmdGetFeatures, 0x80207513u)]
    [InlineData(UblkConstants.IoFetchReq, 0xC0107520u)]
    [InlineData(UblkConstants.IoCommitAndFetchReq, 0xC0107521u)]
    public void Commands_AreIoctlEncoded(uint command, uint expected) =>
        // _IOWR('u', nr, struct) = 3 << 30 | sizeof << 16 | 'u' << 8 | nr; _IOR has direction 2.
        Assert.Equal(expected, command);

    [Fact]
    public void DescriptorOffset_IsQueueTimesTheMaxDepthArrayRoundedToPages()
    {
        Assert.Equal(0, UblkConstants.DescriptorOffset(0, 4096));
        Assert.Equal(4096L * 24, UblkConstants.DescriptorOffset(1, 4096)); // 4096 descriptors of 24 bytes = 24 pages
        Assert.Equal(4096, UblkConstants.DescriptorMapSize(64, 4096));
        Assert.Equal(8192, UblkConstants.DescriptorMapSize(200, 4096));
    }

    [Theory]
    [InlineData(0, 0, 0, 0x80000000L)]
    [InlineData(0, 0, 4096, 0x80001000L)]
    [InlineData(0, 1, 0, 0x80000000L + (1L << 25))]
    [InlineData(1, 0, 0, 0x80000000L + (1L << 41))]
    [InlineData(3, 63, 512, 0x80000000L + (3L << 41) + (63L << 25) + 512)]
    public void UserCopyOffset_IsBufOffsetPlusQueueTagAndByte(int queueId, int tag, int byteOffset, long expected) =>
        // UBLKSRV_IO_BUF_OFFSET 0x80000000, UBLK_TAG_OFF = UBLK_IO_BUF_BITS = 25, UBLK_QID_OFF = 25 + 16 = 41.
        Assert.Equal(expected, UblkConstants.UserCopyOffset(queueId, tag, byteOffset));

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(4095, 4095, (1 << 20) - 1)]
    [InlineData(17, 4095, 0)]
    [InlineData(4095, 0, 4096)]
    public void UserCopyOffset_DecodesAsTheKernelDoes(int queueId, int tag, int byteOffset)
    {
        // ublk_pos_to_hwq / ublk_pos_to_tag / ublk_pos_to_buf_off of drivers/block/ublk_drv.c.
        long pos = UblkConstants.UserCopyOffset(queueId, tag, byteOffset) - 0x80000000L;
        Assert.Equal(queueId, (int)((pos >> 41) & 0xFFF));
        Assert.Equal(tag, (int)((pos >> 25) & 0xFFFF));
        Assert.Equal(byteOffset, (int)(pos & ((1 << 25) - 1)));
    }

    [Fact]
    public void Options_UserCopy_DefaultsToAutoAndRefusesUnknownModes()
    {
        Assert.Equal(UblkUserCopyMode.Auto, new UblkDeviceOptions().UserCopy);
        var options = new UblkDeviceOptions { UserCopy = (UblkUserCopyMode)7 };
        Assert.Throws<ArgumentException>(options.Validate);
    }

    [Fact]
    public async Task BuildParams_MemoryDisk_CarriesGeometryAndDiscard()
    {
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,discard=1,size=64M,bs=4096");
        UblkParams p = UblkDevice.BuildParams(nullb.Disk, readOnly: false, maxIoBytes: 512 * 1024);
        Assert.Equal(112u, p.Length);
        Assert.Equal(UblkConstants.ParamTypeBasic | UblkConstants.ParamTypeDiscard, p.Types);
        Assert.Equal(12, p.Basic.LogicalBlockShift);
        Assert.Equal(12, p.Basic.PhysicalBlockShift);
        Assert.Equal(1024u, p.Basic.MaxSectors);
        Assert.Equal((ulong)(64 << 20) >> 9, p.Basic.DevSectors);
        Assert.Equal(0u, p.Basic.Attributes & UblkConstants.AttrReadOnly);
        Assert.Equal(1, p.Discard.MaxDiscardSegments);
        Assert.True(p.Discard.MaxDiscardSectors > 0);
        Assert.Equal(4096u, p.Discard.DiscardGranularity);
    }

    [Fact]
    public async Task BuildParams_ZonedDisk_CarriesZoneSizeAndLimits()
    {
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=64M,zoned=1,zone_size=4,zone_nr_conv=1,zone_max_open=3,zone_max_active=5");
        UblkParams p = UblkDevice.BuildParams(nullb.Disk, readOnly: false, maxIoBytes: 512 * 1024);
        Assert.Equal(UblkConstants.ParamTypeZoned, p.Types & UblkConstants.ParamTypeZoned);
        Assert.Equal((4u << 20) >> 9, p.Basic.ChunkSectors);
        Assert.Equal(3u, p.Zoned.MaxOpenZones);
        Assert.Equal(5u, p.Zoned.MaxActiveZones);
        Assert.Equal(1024u, p.Zoned.MaxZoneAppendSectors); // the disk's, capped at the max IO size
    }

    [Fact]
    public async Task BuildParams_ReadOnlyWithoutDiscard_SetsReadOnlyAndOmitsDiscard()
    {
        await using NullBlock nullb = NullBlock.Create("size=1M");
        UblkParams p = UblkDevice.BuildParams(nullb.Disk, readOnly: true, maxIoBytes: 128 * 1024);
        Assert.Equal(UblkConstants.AttrReadOnly, p.Basic.Attributes & UblkConstants.AttrReadOnly);
        Assert.Equal(9, p.Basic.LogicalBlockShift);
        Assert.Equal(256u, p.Basic.MaxSectors);
        if (!nullb.Disk.SupportsWriteZeroes)
        {
            Assert.Equal(0u, p.Types & UblkConstants.ParamTypeDiscard);
        }
    }

    [Theory]
    [InlineData(-2, 1, 64, 524288)]
    [InlineData(0, -1, 64, 524288)]
    [InlineData(0, 4097, 64, 524288)]
    [InlineData(0, 1, -1, 524288)]
    [InlineData(0, 1, 5000, 524288)]
    [InlineData(0, 1, 64, 1000)]
    [InlineData(0, 1, 64, 4 << 20)]
    public void Options_OutOfRange_AreRefused(int id, int queues, int depth, int maxIo)
    {
        var options = new UblkDeviceOptions { DeviceId = id, QueueCount = queues, QueueDepth = depth, MaxIoBytes = maxIo };
        Assert.Throws<ArgumentException>(options.Validate);
    }

    [Fact]
    public async Task Options_QueuesAndDepthLeftAtZero_FollowTheDisksTagSet()
    {
        // ublk queue q feeds Blkmq queue q, with as many tags: the default geometry is the disk's.
        await using NullBlock nullb = NullBlock.Create("submit_queues=3,poll_queues=1,hw_queue_depth=48,irqmode=0");
        UblkDeviceOptions resolved = new UblkDeviceOptions().ResolveFor(nullb.Disk);
        Assert.Equal(3, resolved.QueueCount);
        Assert.Equal(48, resolved.QueueDepth);

        UblkDeviceOptions given = new UblkDeviceOptions { QueueCount = 2, QueueDepth = 128 }.ResolveFor(nullb.Disk);
        Assert.Equal(2, given.QueueCount);
        Assert.Equal(128, given.QueueDepth);
    }

    [Fact]
    public void DevicePathPayload_IsThePathWithoutNulThenThePayload()
    {
        // An unprivileged device's command: addr = "/dev/ublkcN" + payload, len = both, dev_path_len = the path's bytes.
        byte[] path = UblkControl.DevicePath(12);
        Assert.Equal("/dev/ublkc12"u8.ToArray(), path);
        byte[] buffer = new byte[path.Length + 3];
        UblkControl.ComposeWithDevicePath(path, [1, 2, 3], buffer);
        Assert.Equal([.. "/dev/ublkc12"u8, 1, 2, 3], buffer);
    }

    [Fact]
    public void DescribeFlags_NamesUserCopy() =>
        Assert.Equal("comp_in_task,ioctl_encode,user_copy", UblkConstants.DescribeFlags(UblkConstants.FlagUringCmdCompInTask | UblkConstants.FlagCmdIoctlEncode | UblkConstants.FlagUserCopy));

    [Fact]
    public void DescribeFlags_NamesEachBit() =>
        Assert.Equal("user_recovery,user_recovery_reissue,ioctl_encode", UblkConstants.DescribeFlags(UblkConstants.FlagUserRecovery | UblkConstants.FlagUserRecoveryReissue | UblkConstants.FlagCmdIoctlEncode));

    private static long Offset<TStruct, TField>(ref TStruct owner, ref TField field) =>
        Unsafe.ByteOffset(ref Unsafe.As<TStruct, byte>(ref owner), ref Unsafe.As<TField, byte>(ref field));
}
