using Blkmq.Tests.Infrastructure;
using Blkmq.Drivers.Null;
using Blkmq.Frontend;

namespace Blkmq.Tests;

/// <summary>
/// The front ends' shared layer: one status → errno table (Linux's <c>blk_status_to_errno</c>) and its NBD projection,
/// the export record and its power-cycle swap, the read-buffer policy, and the non-throwing status API.
/// </summary>
public sealed class FrontendLayerTests
{
    [Theory]
    [InlineData(BlockStatus.Ok, 0, 0u)]
    [InlineData(BlockStatus.NotSupported, 95, 95u)] // EOPNOTSUPP / NBD_ENOTSUP
    [InlineData(BlockStatus.Timeout, 110, 5u)] // ETIMEDOUT / NBD_EIO
    [InlineData(BlockStatus.NoSpace, 28, 28u)]
    [InlineData(BlockStatus.IoError, 5, 5u)]
    [InlineData(BlockStatus.Invalid, 22, 22u)]
    [InlineData(BlockStatus.Offline, 19, 108u)] // ENODEV / NBD_ESHUTDOWN
    [InlineData(BlockStatus.ReadOnly, 1, 1u)] // EPERM
    [InlineData(BlockStatus.ZoneError, 5, 5u)]
    [InlineData(BlockStatus.Busy, 12, 12u)] // BLK_STS_RESOURCE: ENOMEM
    [InlineData(BlockStatus.ResourceBusy, 16, 5u)] // BLK_STS_DEV_RESOURCE: EBUSY
    public void StatusMapsToLinuxErrno_AndToNbdError(BlockStatus status, int errno, uint nbd)
    {
        Assert.Equal(errno, BlockStatusMapping.ToErrno(status));
        Assert.Equal(nbd, BlockStatusMapping.ToNbdError(status));
    }

    [Fact]
    public async Task ReplaceDisk_GivesNewTargets_TheNewDisk_OldTargetsKeepTheirs()
    {
        await using NullBlock first = NullBlock.Create("size=1M,irqmode=0");
        await using NullBlock second = NullBlock.Create("size=2M,irqmode=0,memory_backed=1");
        var export = new BlockExport("disk", first.Disk, readOnly: false, description: "d");
        ExportTarget before = export.Target;
        ExportTarget after = export.ReplaceDisk(second.Disk);
        Assert.Same(first.Disk, before.Disk);
        Assert.Same(second.Disk, export.Disk);
        Assert.Same(after, export.Target);
        Assert.Equal(2L << 20, export.Target.Device.Size);
        Assert.False(export.Target.IsReadOnly);
        second.Disk.SetReadOnly(true);
        Assert.True(export.Target.IsReadOnly);
        Assert.True(new BlockExport("ro", first.Disk, readOnly: true).Target.IsReadOnly);
    }

    [Fact]
    public async Task ReadBufferPolicy_ClearsOnlyForDisksThatDoNotFillReadBuffers()
    {
        await using NullBlock empty = NullBlock.Create("size=1M,irqmode=0");
        await using NullBlock memory = NullBlock.Create("size=1M,irqmode=0,memory_backed=1");
        byte[] buffer = [1, 2, 3];
        ReadBufferPolicy.Prepare(memory.Disk, buffer);
        Assert.Equal([1, 2, 3], buffer);
        ReadBufferPolicy.Prepare(empty.Disk, buffer);
        Assert.Equal([0, 0, 0], buffer);
    }

    [Theory]
    [InlineData("irqmode=0")]
    [InlineData("irqmode=1")]
    [InlineData("irqmode=2,completion_nsec=1000")]
    public async Task StatusApi_ReturnsFailuresAsStatuses_NeverThrows(string completion)
    {
        await using NullBlock nullb = NullBlock.Create($"{completion},memory_backed=1,size=1M,bs=4096,discard=0");
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] block = new byte[4096];
        Array.Fill(block, (byte)7);
        Assert.Equal(BlockStatus.Ok, await device.WriteStatusAsync(0, block));
        byte[] read = new byte[4096];
        Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(0, read));
        Assert.Equal(block, read);
        Assert.Equal(BlockStatus.Ok, await device.WriteZeroesStatusAsync(0, 4096));
        Assert.Equal(BlockStatus.Ok, await device.FlushStatusAsync());
        Assert.Equal(BlockStatus.Ok, await device.WriteBytesStatusAsync(10, block.AsMemory(0, 100)));
        Assert.Equal(BlockStatus.Ok, await device.ReadBytesStatusAsync(10, read.AsMemory(0, 100)));
        Assert.Equal(BlockStatus.Ok, await device.ZeroBytesStatusAsync(5, 5000, mayUnmap: true));

        Assert.Equal(BlockStatus.Invalid, await device.ReadStatusAsync(1, read));
        Assert.Equal(BlockStatus.Invalid, await device.WriteStatusAsync(1L << 20, block));
        Assert.Equal(BlockStatus.Invalid, await device.WriteBytesStatusAsync((1L << 20) - 10, block.AsMemory(0, 100)));
        Assert.Equal(BlockStatus.NotSupported, await device.DiscardStatusAsync(0, 4096));

        nullb.Disk.SetReadOnly(true);
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteStatusAsync(0, block));
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteZeroesStatusAsync(0, 4096));
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteBytesStatusAsync(10, block.AsMemory(0, 100)));
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, block));
    }

    [Fact]
    public async Task PendingWriteAwaitedTwice_Throws_AndDoesNotCorruptTheHoldPool()
    {
        // The driver holds every request, so the writes are pending when awaited (no timing involved).
        await using TestRig rig = TestRig.Create(depth: 4);
        byte[] block = new byte[512];
        ValueTask<BlockStatus> write = rig.Device.WriteStatusAsync(0, block);
        Assert.False(write.IsCompleted);
        (await rig.Data.NextAsync()).End(BlockStatus.Ok);
        Assert.Equal(BlockStatus.Ok, await write);
        Assert.ThrowsAny<InvalidOperationException>(() => write.GetAwaiter().GetResult());

        // The pool hands the hold out once, not twice: two pending writes complete independently.
        ValueTask<BlockStatus> a = rig.Device.WriteStatusAsync(0, block);
        ValueTask<BlockStatus> b = rig.Device.WriteStatusAsync(4096, block);
        (await rig.Data.NextAsync()).End(BlockStatus.Ok);
        (await rig.Data.NextAsync()).End(BlockStatus.IoError);
        Assert.Equal(BlockStatus.Ok, await a);
        Assert.Equal(BlockStatus.IoError, await b);
        rig.AssertIdle();
    }
}
