using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Stress;

/// <summary>
/// Many submitters against a queue far too shallow for them, in every completion mode and on a poll queue, bounded
/// by IO count: every IO completes exactly once with its own data, nothing is lost or counted twice, and the tag
/// set is idle at the end. Each submitter owns a region of the disk and checks every read against its own model.
/// </summary>
public sealed class SubmitterStressTests
{
    private const int BlockSize = 512;
    private const int RegionBlocks = 64;
    private const int MaxIoBlocks = 16;
    private const int RoundsPerSubmitter = 3000;

    [Theory]
    [InlineData(IrqMode.None, false)]
    [InlineData(IrqMode.SoftIrq, false)]
    [InlineData(IrqMode.Timer, false)]
    [InlineData(IrqMode.SoftIrq, true)]
    public async Task ManySubmitters_FewTags_EveryIoCompletesOnceWithItsOwnData(IrqMode mode, bool polled)
    {
        // Four tags per queue against at least sixteen submitters: most submissions wait for a tag.
        int submitters = Math.Max(16, 4 * Environment.ProcessorCount);
        var options = new NullBlockOptions
        {
            MemoryBacked = true,
            BlockSize = BlockSize,
            Size = (long)submitters * RegionBlocks * BlockSize,
            SubmitQueues = polled ? 1 : 2,
            PollQueues = polled ? 1 : 0,
            HwQueueDepth = 4,
            IrqMode = mode,
            CompletionNsec = 2_000,
        };

        await NullBlockScope.RunAsync(options, nullb => RunAsync(nullb, submitters, polled));
    }

    private static async Task RunAsync(NullBlock nullb, int submitters, bool polled)
    {
        Disk disk = nullb.Disk;
        BlockDevice device = disk.OpenDevice();
        var counts = new IoCounts(submitters * RoundsPerSubmitter * 2);
        using var stopPolling = new CancellationTokenSource();
        Task poller = polled ? StartPoller(disk, stopPolling.Token) : Task.CompletedTask;
        try
        {
            var tasks = new Task[submitters];
            for (int s = 0; s < submitters; s++)
            {
                int submitter = s;
                tasks[s] = Task.Run(() => SubmitAsync(device, submitter, polled ? RequestFlags.Polled : RequestFlags.None, counts), TestContext.Current.CancellationToken);
            }

            await Task.WhenAll(tasks).Guard(() => $"{submitters} submitters not done; {DescribeState(nullb)}");
        }
        finally
        {
            // Polled IO completes on the poller thread, so this may be running on it: await the poller (which lets
            // the thread unwind and stop), never block on it.
            await stopPolling.CancelAsync();
            await poller.Guard();
        }

        for (int io = 0; io < counts.Completions.Length; io++)
        {
            Assert.True(counts.Completions[io] == 1, $"IO {io} completed {counts.Completions[io]} times.");
        }

        // Nothing was split, and an awaited request frees its tag before its awaiter resumes: idle now, not eventually.
        Assert.Equal(0, nullb.TagSets.Sum(static t => t.TagsInUse));
        Assert.Equal(0, disk.InFlight);
        DiskStats stats = disk.GetStatistics();
        Assert.Equal(counts.Reads, stats.ReadIos);
        Assert.Equal(counts.Writes, stats.WriteIos);
        Assert.Equal(0, stats.InFlight);
    }

    private static async Task SubmitAsync(BlockDevice device, int submitter, RequestFlags flags, IoCounts counts)
    {
        long regionStart = (long)submitter * RegionBlocks * BlockSize;
        byte[] model = new byte[RegionBlocks * BlockSize];
        var random = new Random(submitter);
        for (int round = 0; round < RoundsPerSubmitter; round++)
        {
            // A write of a pattern unique to this IO, then a read of a random range of the region, which may or
            // may not cover what was just written.
            int writeId = (((submitter * RoundsPerSubmitter) + round) * 2) + 1;
            (int writeBlock, int writeBlocks) = RandomRange(random);
            long writeOffset = regionStart + (writeBlock * BlockSize);
            byte[] data = IoPattern.Create(writeBlocks * BlockSize, writeId, writeOffset);
            await device.WriteAsync(writeOffset, data, flags);
            counts.Complete(writeId, isRead: false);
            data.CopyTo(model.AsSpan(writeBlock * BlockSize));

            int readId = writeId - 1;
            (int readBlock, int readBlocks) = RandomRange(random);
            long readOffset = regionStart + (readBlock * BlockSize);
            byte[] buffer = new byte[readBlocks * BlockSize];
            await device.ReadAsync(readOffset, buffer, flags);
            counts.Complete(readId, isRead: true);
            IoPattern.AssertSame(model.AsSpan(readBlock * BlockSize, buffer.Length), buffer, readOffset, $"submitter {submitter} round {round} read");
        }
    }

    private static string DescribeState(NullBlock nullb) =>
        $"{nullb.TagSets.Sum(static t => t.TagsInUse)} tags in use, {nullb.Disk.InFlight} requests in flight";

    private static (int Block, int Blocks) RandomRange(Random random)
    {
        int blocks = random.Next(1, MaxIoBlocks + 1);
        return (random.Next(0, RegionBlocks - blocks + 1), blocks);
    }

    private static Task StartPoller(Disk disk, CancellationToken stop) =>
        // Polled IO completes only here, like an io_uring IOPOLL reaper, on a thread of its own.
        Task.Factory.StartNew(
            () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    if (disk.Poll() == 0)
                    {
                        Thread.Yield();
                    }
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

    private sealed class IoCounts(int ios)
    {
        private long _reads;
        private long _writes;

        public int[] Completions { get; } = new int[ios];

        public long Reads => Volatile.Read(ref _reads);

        public long Writes => Volatile.Read(ref _writes);

        public void Complete(int io, bool isRead)
        {
            Interlocked.Increment(ref Completions[io]);
            Interlocked.Increment(ref isRead ? ref _reads : ref _writes);
        }
    }
}
