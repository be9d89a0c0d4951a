namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>The fault-injecting driver under the real core: every callback goes to its disk, <see cref="SimDisk"/>.</summary>
internal readonly struct SimDriver : IBlockDriver<SimRequest, SimQueue, SimDisk>
{
    public BlockStatus QueueRq(ref SimQueue hwQueue, SimDisk disk, Request<SimRequest> request, bool isLast) => disk.QueueRq(request);

    public void Complete(SimDisk disk, Request<SimRequest> request) => disk.Complete(request);

    public SimQueue InitHctx(SimDisk disk, int hwQueueIndex) => new(hwQueueIndex);

    public SimRequest InitRequest(int hwQueueIndex, int tag) => default;

    public TimeoutAction Timeout(SimDisk disk, Request<SimRequest> request) => disk.Timeout(request);
}
