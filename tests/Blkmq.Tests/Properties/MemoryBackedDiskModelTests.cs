using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;
using CsCheck;

namespace Blkmq.Tests.Properties;

/// <summary>
/// A memory-backed null disk behaves like a plain byte array: random geometries, limits (small max_sectors, so
/// IO is split), queue shapes, completion modes and write caches (which must be invisible to reads), driven by
/// random concurrent batches of reads, writes (with and without FUA), discards, write-zeroes and flushes. Ranges in flight at the same time never overlap, so the
/// sequential model is exact.
/// </summary>
public sealed class MemoryBackedDiskModelTests
{
    private static readonly Gen<OpKind> s_kind = Gen.Frequency(
    [
        (4, OpKind.Read),
        (3, OpKind.Write),
        (1, OpKind.WriteFua),
        (1, OpKind.Discard),
        (1, OpKind.WriteZeroes),
        (1, OpKind.WriteZeroesNoUnmap),
        (1, OpKind.Flush),
    ]);

    private static readonly Gen<Scenario> s_scenario =
        from blockSize in Gen.Bool.Select(static small => small ? 512 : 4096)
        from sizeKib in Gen.Int[256, 2048]
        from maxBlocks in Gen.Int[1, 16]
        from defaultMaxSectors in Gen.Int[0, 7].Select(static x => x == 0)
        from submitQueues in Gen.Int[1, 4]
        from depth in Gen.Int[1, 64]
        from mode in Gen.Enum<IrqMode>()
        from completionNsec in Gen.Int[0, 20_000]
        from discard in Gen.Bool
        from cacheKib in Gen.Frequency((2, Gen.Const(0)), (1, Gen.Int[4, 512]))
        from fua in Gen.Bool
        let sizeBlocks = (int)((sizeKib * 1024L) / blockSize)
        let maxRequestBlocks = defaultMaxSectors ? Math.Min(sizeBlocks, (2560 * 512) / blockSize) : maxBlocks
        from operations in OperationGen(sizeBlocks, maxRequestBlocks).Array[1, 40]
        select new Scenario(blockSize, sizeBlocks, defaultMaxSectors ? 0 : maxBlocks * (blockSize >> 9), submitQueues, depth, mode, completionNsec, discard, cacheKib << 10, fua, operations);

    private enum OpKind
    {
        Read,
        Write,
        WriteFua,
        Discard,
        WriteZeroes,
        WriteZeroesNoUnmap,
        Flush,
    }

    [Fact]
    public async Task RandomConcurrentBatches_ReadBackEqualsByteArrayModel()
    {
        await s_scenario.SampleAsync(RunAsync, iter: 1500, threads: 2, print: static s => s.ToString());
    }

    private static Gen<Operation> OperationGen(int sizeBlocks, int maxRequestBlocks) =>
        from kind in s_kind
        from offset in Gen.Int[0, sizeBlocks]
        from length in Gen.Int[0, (3 * maxRequestBlocks) + 2]
        from newBatch in Gen.Int[0, 2].Select(static x => x == 0)
        from seed in Gen.Int[1, int.MaxValue]
        select new Operation(kind, offset, kind == OpKind.Flush ? 0 : Math.Min(length, sizeBlocks - offset), newBatch, seed);

    private static async Task RunAsync(Scenario scenario)
    {
        NullBlockOptions options = scenario.ToOptions();
        await NullBlockScope.RunAsync(options, nullb => RunOnDiskAsync(nullb, scenario));
    }

    private static async Task RunOnDiskAsync(NullBlock nullb, Scenario scenario)
    {
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] model = new byte[device.Size];

        var batch = new List<Operation>();
        foreach (Operation operation in scenario.Operations)
        {
            if (batch.Count > 0 && (operation.NewBatch || batch.Exists(other => Overlaps(other, operation))))
            {
                await RunBatchAsync(nullb, scenario, model, batch);
                batch.Clear();
            }

            batch.Add(operation);
        }

        await RunBatchAsync(nullb, scenario, model, batch);
        await VerifyWholeDiskAsync(device, model);

        // Every IO was awaited, and a request (split part or not) frees its tag before its awaiter resumes.
        Assert.Equal(0, nullb.TagSets.Sum(static t => t.TagsInUse));
        Assert.Equal(0, nullb.Disk.InFlight);
    }

    private static async Task RunBatchAsync(NullBlock nullb, Scenario scenario, byte[] model, List<Operation> batch)
    {
        BlockDevice device = nullb.Disk.OpenDevice();
        // Every operation of the batch is submitted from its own task, so several are in flight at once.
        var tasks = new Task<byte[]?>[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            Operation operation = batch[i];
            tasks[i] = Task.Run(() => ExecuteAsync(device, scenario, operation), TestContext.Current.CancellationToken);
        }

        await Task.WhenAll(tasks).Guard();

        // Every IO of the batch was awaited, split or not, and a request frees its tag before its awaiter resumes.
        Assert.Equal(0, nullb.TagSets.Sum(static t => t.TagsInUse));

        // No two ranges of the batch overlap, so applying it in any order gives the same model, and each read
        // saw exactly the bytes the model had before the batch.
        for (int i = 0; i < batch.Count; i++)
        {
            Operation operation = batch[i];
            long offset = (long)operation.OffsetBlocks * scenario.BlockSize;
            int length = operation.LengthBlocks * scenario.BlockSize;
            byte[]? data = await tasks[i];
            switch (operation.Kind)
            {
                case OpKind.Read:
                    IoPattern.AssertSame(model.AsSpan((int)offset, length), data, offset, $"read #{i} of the batch");
                    break;
                case OpKind.Write or OpKind.WriteFua:
                    data.CopyTo(model.AsSpan((int)offset));
                    break;
                case OpKind.Discard when scenario.Discard:
                case OpKind.WriteZeroes or OpKind.WriteZeroesNoUnmap:
                    // The null driver drops whole discarded pages and zeroes partial ones: a discarded range reads zero.
                    model.AsSpan((int)offset, length).Clear();
                    break;
                default:
                    break;
            }
        }
    }

    private static async Task<byte[]?> ExecuteAsync(BlockDevice device, Scenario scenario, Operation operation)
    {
        long offset = (long)operation.OffsetBlocks * scenario.BlockSize;
        int length = operation.LengthBlocks * scenario.BlockSize;
        switch (operation.Kind)
        {
            case OpKind.Read:
                byte[] buffer = new byte[length];
                await device.ReadAsync(offset, buffer);
                return buffer;
            case OpKind.Write or OpKind.WriteFua:
                byte[] data = IoPattern.Create(length, operation.Seed, offset);
                await device.WriteAsync(offset, data, operation.Kind == OpKind.WriteFua ? RequestFlags.Fua : RequestFlags.None);
                return data;
            case OpKind.Discard when scenario.Discard:
                await device.DiscardAsync(offset, length);
                return null;
            case OpKind.Discard:
                BlockIOException refused = await Assert.ThrowsAsync<BlockIOException>(async () => await device.DiscardAsync(offset, length));
                Assert.Equal(BlockStatus.NotSupported, refused.Status);
                return null;
            case OpKind.WriteZeroes or OpKind.WriteZeroesNoUnmap:
                await device.WriteZeroesAsync(offset, length, mayUnmap: operation.Kind == OpKind.WriteZeroes);
                return null;
            default:
                await device.FlushAsync();
                return null;
        }
    }

    private static async Task VerifyWholeDiskAsync(BlockDevice device, byte[] model)
    {
        // Read back in requests no larger than max_sectors, many at once.
        int chunk = Math.Min(device.Disk.Limits.MaxBytes, model.Length);
        const int InFlight = 16;
        var reads = new List<Task>(InFlight);
        for (int offset = 0; offset < model.Length; offset += chunk)
        {
            int at = offset;
            int length = Math.Min(chunk, model.Length - at);
            reads.Add(Task.Run(
                async () =>
                {
                    byte[] buffer = new byte[length];
                    await device.ReadAsync(at, buffer);
                    IoPattern.AssertSame(model.AsSpan(at, length), buffer, at, "final read-back");
                },
                TestContext.Current.CancellationToken));
            if (reads.Count == InFlight)
            {
                await Task.WhenAll(reads).Guard();
                reads.Clear();
            }
        }

        await Task.WhenAll(reads).Guard();
    }

    private static bool Overlaps(Operation a, Operation b) =>
        a.LengthBlocks > 0 && b.LengthBlocks > 0
        && a.OffsetBlocks < b.OffsetBlocks + b.LengthBlocks
        && b.OffsetBlocks < a.OffsetBlocks + a.LengthBlocks;

    private readonly record struct Operation(OpKind Kind, int OffsetBlocks, int LengthBlocks, bool NewBatch, int Seed)
    {
        public override string ToString() => $"{Kind}@{OffsetBlocks}+{LengthBlocks}{(NewBatch ? " |" : string.Empty)}";
    }

    private sealed record Scenario(
        int BlockSize,
        int SizeBlocks,
        int MaxSectors,
        int SubmitQueues,
        int Depth,
        IrqMode Mode,
        long CompletionNsec,
        bool Discard,
        long CacheSize,
        bool Fua,
        Operation[] Operations)
    {
        public NullBlockOptions ToOptions() => new()
        {
            MemoryBacked = true,
            Discard = Discard,
            SubmitQueues = SubmitQueues,
            HwQueueDepth = Depth,
            BlockSize = BlockSize,
            Size = (long)SizeBlocks * BlockSize,
            MaxSectors = MaxSectors,
            IrqMode = Mode,
            CompletionNsec = CompletionNsec,
            CacheSize = CacheSize,
            Fua = Fua,
        };

        public override string ToString() =>
            $"bs={BlockSize} blocks={SizeBlocks} max_sectors={MaxSectors} submit_queues={SubmitQueues} depth={Depth} irqmode={Mode} " +
            $"completion_nsec={CompletionNsec} discard={Discard} cache_size={CacheSize} fua={Fua} ops=[{string.Join(", ", Operations)}]";
    }
}
