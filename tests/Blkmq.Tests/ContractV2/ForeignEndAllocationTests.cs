using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.ContractV2;

/// <summary>
/// Rule 10 costs nothing per IO: a device thread that ends requests hands their submitters to the thread pool
/// without allocating (the request slot is its own work item).
/// </summary>
public sealed class ForeignEndAllocationTests
{
    private const int RoundSize = 500;

    [Fact]
    public async Task EndsFromADeviceThread_SteadyState_AllocateNothingThere()
    {
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 1);
        int rounds = 40;
        Task submitter = Task.Run(async () =>
        {
            byte[] buffer = new byte[512];
            for (int i = 0; i < (rounds + 2) * RoundSize; i++)
            {
                await rig.Device.ReadAsync(0, buffer);
            }
        });

        var allocations = new AllocationRounds();
        var device = new Thread(() =>
        {
            EndSome(rig, RoundSize * 2);
            for (int round = 0; round < rounds; round++)
            {
                allocations.Measure(() => EndSome(rig, RoundSize));
            }
        });
        device.Start();
        await submitter.Guard();
        device.Join();

        allocations.AssertNothingPerIo(RoundSize);
        rig.AssertIdle();
    }

    private static void EndSome(TestRig rig, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Request<TestRequest> request;
            SpinWait spin = default;
            while (!rig.Data.TryNext(out request))
            {
                spin.SpinOnce();
            }

            request.End(BlockStatus.Ok);
        }
    }
}
