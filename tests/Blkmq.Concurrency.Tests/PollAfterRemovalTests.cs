using Blkmq.Concurrency.Tests.Infrastructure;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Rule 7 for poll queues: once <see cref="Disk.RemoveAsync"/> has returned, polling the disk must not reach the
/// driver (its hardware queues were exited). A poller thread that stops when it learns of the removal always
/// makes one last call after the removal returned, so this is the ordinary shutdown of an IOPOLL reaper.
/// </summary>
public sealed class PollAfterRemovalTests
{
    [Fact]
    public async Task PollAfterRemoveAsyncReturned_DoesNotCallTheDriver()
    {
        ProbeRig rig = ProbeRig.Create(new TagSetOptions { HardwareQueueCount = 1, PollQueueCount = 1, QueueDepth = 4 });
        await using (rig)
        {
            // One polled IO, completed by a poll, so the poll queue is known to work.
            ValueTask read = rig.Device.ReadAsync(0, new byte[512], RequestFlags.Polled);
            Assert.Equal(1, rig.Disk.Poll());
            await read;

            await rig.Disk.RemoveAsync().AsTask().Guard();
            rig.Probe.Seal();
            int pollsBefore = rig.Probe.Calls(CallbackKind.Poll);

            Assert.Equal(0, rig.Disk.Poll());

            Assert.Equal(pollsBefore, rig.Probe.Calls(CallbackKind.Poll));
            Assert.Empty(rig.Probe.Violations);
        }
    }
}
