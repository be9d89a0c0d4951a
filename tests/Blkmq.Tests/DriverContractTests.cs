using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests;

public sealed class DriverContractTests
{
    [Fact]
    public void OptionalMemberWithWrongSignature_IsRefused()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => new TagSet<DriftedDriver, TestRequest, TestHw, TestDisk>(default, new TagSetOptions()));
        Assert.Contains("DriftedDriver.Complete", error.Message, StringComparison.Ordinal);
    }

    private readonly struct DriftedDriver : IBlockDriver<TestRequest, TestHw, TestDisk>
    {
        public BlockStatus QueueRq(ref TestHw hwQueue, TestDisk disk, Request<TestRequest> request, bool isLast) => BlockStatus.Ok;

        public TestHw InitHctx(TestDisk disk, int hwQueueIndex) => new(hwQueueIndex);

        public TestRequest InitRequest(int hwQueueIndex, int tag) => default;

        // The interface's Complete takes the disk as well: this one would never be called.
#pragma warning disable CA1822 // an instance method on purpose: it is what a driver author would write
        public void Complete(Request<TestRequest> request) => request.End(BlockStatus.Ok);
#pragma warning restore CA1822
    }
}
