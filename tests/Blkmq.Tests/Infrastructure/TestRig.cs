using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Tests.Infrastructure;

/// <summary>A tag set with the test driver and one disk, on a fake clock unless a test asks for real time.</summary>
public sealed class TestRig : IAsyncDisposable
{
    private TestRig(TagSet<TestDriver, TestRequest, TestHw, TestDisk> tagSet, Disk disk, TestDisk data, FakeTimeProvider? time)
    {
        TagSet = tagSet;
        Disk = disk;
        Data = data;
        Time = time;
        Device = disk.OpenDevice();
    }

    public TagSet<TestDriver, TestRequest, TestHw, TestDisk> TagSet { get; }

    public Disk Disk { get; }

    public TestDisk Data { get; }

    public BlockDevice Device { get; }

    public FakeTimeProvider? Time { get; }

    public static TestRig Create(
        int queues = 1,
        int depth = 4,
        TimeSpan? timeout = null,
        bool fakeTime = true,
        Action<TestDisk>? configure = null,
        Func<DiskOptions, DiskOptions>? disk = null,
        int pollQueues = 0,
        FakeTimeProvider? time = null,
        bool blocking = false)
    {
        time ??= fakeTime ? new FakeTimeProvider() : null;
        var tagSet = new TagSet<TestDriver, TestRequest, TestHw, TestDisk>(
            default,
            new TagSetOptions
            {
                HardwareQueueCount = queues,
                PollQueueCount = pollQueues,
                QueueDepth = depth,
                RequestTimeout = timeout ?? TimeSpan.FromSeconds(30),
                TimeProvider = (TimeProvider?)time ?? TimeProvider.System,
                Blocking = blocking,
            });
        var data = new TestDisk();
        configure?.Invoke(data);
        var options = new DiskOptions
        {
            Name = "test0",
            Capacity = 1 << 20,
            WriteCache = true,
            Fua = true,
            Limits = new QueueLimits { MaxDiscardSectors = 1 << 20, MaxWriteZeroesSectors = 1 << 20 },
        };
        Disk added = tagSet.AddDisk(data, disk?.Invoke(options) ?? options);
        return new TestRig(tagSet, added, data, time);
    }

    /// <summary>Asserts that nothing leaked: every tag free, nothing in flight.</summary>
    public void AssertIdle()
    {
        Assert.Equal(0, TagSet.TagsInUse);
        Assert.Equal(0, Disk.InFlight);
    }

    public async ValueTask DisposeAsync() => await TagSet.DisposeAsync();
}
