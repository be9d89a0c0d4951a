using Blkmq.Drivers.Null;
using CsCheck;

namespace Blkmq.Tests.Properties;

/// <summary>
/// Every <see cref="BlockDevice"/> IO method refuses a negative, misaligned or out-of-range offset or length with
/// an <see cref="ArgumentException"/> thrown at the call (not through the returned task), submits nothing and
/// leaks nothing, whatever the disk's block size and features.
/// </summary>
public sealed class InvalidRangeTests
{
    private const long Capacity = 256 << 10;

    private enum Method
    {
        Read,
        Write,
        WriteFua,
        Discard,
        WriteZeroes,
    }

    private enum Fault
    {
        NegativeOffset,
        NegativeLength,
        MisalignedOffset,
        MisalignedLength,
        PastTheEnd,
        OffsetPastTheEnd,
        HugeLength,
    }

    [Fact]
    public async Task InvalidRange_ThrowsArgumentExceptionAtTheCall_SubmitsAndLeaksNothing()
    {
        // Both block sizes; with and without discard; with a write cache that does and does not take FUA itself
        // (a FUA write then becomes a write plus a flush).
        NullBlock[] disks =
        [
            NullBlock.Create(new NullBlockOptions { MemoryBacked = true, BlockSize = 512, Size = Capacity, Discard = true }),
            NullBlock.Create(new NullBlockOptions { MemoryBacked = true, BlockSize = 4096, Size = Capacity, Discard = false }),
            NullBlock.Create(new NullBlockOptions { MemoryBacked = true, BlockSize = 512, Size = Capacity, CacheSize = 64 << 10, Fua = true }),
            NullBlock.Create(new NullBlockOptions { MemoryBacked = true, BlockSize = 4096, Size = Capacity, CacheSize = 64 << 10, Fua = false }),
        ];
        try
        {
            Gen<(int Disk, Method Method, Fault Fault, long A, long B)> cases = Gen.Select(
                Gen.Int[0, disks.Length - 1],
                Gen.Enum<Method>(),
                Gen.Enum<Fault>(),
                Gen.Long[0, Capacity * 2],
                Gen.Long[1, 4095]);
            cases.Sample(
                c => AssertRefused(disks[c.Disk].Disk.OpenDevice(), c.Method, c.Fault, c.A, c.B),
                iter: 3000,
                print: static c => c.ToString());

            foreach (NullBlock nullb in disks)
            {
                Assert.Equal(0, nullb.TagSets.Sum(static t => t.TagsInUse));
                Assert.Equal(0, nullb.Disk.InFlight);
                DiskStats stats = nullb.Disk.GetStatistics();
                Assert.Equal(0, stats.ReadIos + stats.WriteIos + stats.DiscardIos + stats.FlushIos);
            }
        }
        finally
        {
            foreach (NullBlock nullb in disks)
            {
                await nullb.DisposeAsync();
            }
        }
    }

    private static void NotReturned(ValueTask returned)
    {
        Task task = returned.AsTask();
        Assert.Fail($"The call returned a task ({task.Status}, {task.Exception?.InnerException?.GetType().Name ?? "no exception"}) instead of throwing.");
    }

    private static void AssertRefused(BlockDevice device, Method method, Fault fault, long a, long b)
    {
        long block = device.LogicalBlockSize;
        long aligned = a / block * block;
        (long offset, long length) = fault switch
        {
            Fault.NegativeOffset => (-(aligned + block), block),
            Fault.NegativeLength => (Math.Min(aligned, Capacity - block), -(aligned + block)),
            Fault.MisalignedOffset => (Math.Min(aligned, Capacity - block) + (b % block == 0 ? 1 : b % block), block),
            Fault.MisalignedLength => (0, Math.Min(aligned, Capacity - block) + (b % block == 0 ? 1 : b % block)),
            Fault.PastTheEnd => (Math.Min(aligned, Capacity), Capacity - Math.Min(aligned, Capacity) + ((b % 4) + 1) * block),
            Fault.OffsetPastTheEnd => (Capacity + aligned + block, 0),
            _ => (aligned % Capacity, long.MaxValue / block * block),
        };

        // Read and write take their length from a buffer, which cannot be negative or huge.
        if (method is Method.Read or Method.Write or Method.WriteFua && (length < 0 || length > Capacity * 2))
        {
            length = Capacity + block;
            offset = Math.Max(offset, 0) % Capacity;
        }

        // Only the call itself may throw: a returned task, even a faulted one, fails the property.
        Assert.ThrowsAny<ArgumentException>(() => NotReturned(method switch
        {
            Method.Read => device.ReadAsync(offset, new byte[length]),
            Method.Write => device.WriteAsync(offset, new byte[length]),
            Method.WriteFua => device.WriteAsync(offset, new byte[length], RequestFlags.Fua),
            Method.Discard => device.DiscardAsync(offset, length),
            _ => device.WriteZeroesAsync(offset, length, mayUnmap: b % 2 == 0),
        }));
    }
}
