using Blkmq.Drivers.Null;
using Blkmq.Fuse;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// What the FUSE export allocates per request in steady state: fio in another process drives 4 KiB O_DIRECT reads and
/// writes on the file while this process' allocated bytes are counted, as <see cref="AllocationTests"/> does for NBD;
/// through <c>/dev/fuse</c> workers and through the io_uring queues.
/// </summary>
[Collection("alone")]
public sealed class FuseAllocationTests
{
    [Theory]
    [InlineData("randread", 2, false)]
    [InlineData("randwrite", 2, false)]
    [InlineData("randread", 2, true)]
    [InlineData("randwrite", 2, true)]
    public async Task SteadyState_AllocatesAlmostNothingPerRequest(string rw, double limit, bool ioUring)
    {
        ExternalTool.Require("fio");
        FuseRequirements.RequireRootWithFuse();
        using IDisposable? parameter = ioUring ? FuseUringParameter.Enable() : null;
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=64M,irqmode=0");
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-alloc-").FullName;
        try
        {
            await using (FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
                IoUring = ioUring ? FuseIoUringMode.On : FuseIoUringMode.Off,
            }))
            {
                string[] Arguments(int count) =>
                [
                    "--name=alloc", "--filename=" + export.FilePaths[0], "--rw=" + rw, "--bs=4k", "--direct=1", "--ioengine=psync",
                    "--size=64m", "--number_ios=" + count, "--randrepeat=1",
                ];

                await ExternalTool.RunCheckedAsync("fio", Arguments(20_000), TimeSpan.FromMinutes(1));
                const int Ios = 40_000;
                long start = GC.GetTotalAllocatedBytes(precise: true);
                await ExternalTool.RunCheckedAsync("fio", Arguments(Ios / 4), TimeSpan.FromMinutes(2));
                long shortRun = GC.GetTotalAllocatedBytes(precise: true) - start;
                start = GC.GetTotalAllocatedBytes(precise: true);
                await ExternalTool.RunCheckedAsync("fio", Arguments(Ios), TimeSpan.FromMinutes(2));
                long longRun = GC.GetTotalAllocatedBytes(precise: true) - start;
                double perIo = (double)(longRun - shortRun) / (Ios - (Ios / 4));
                TestContext.Current.TestOutputHelper?.WriteLine($"{rw}: {perIo:F3} bytes per extra IO ({shortRun} B for {Ios / 4} IOs, {longRun} B for {Ios})");
                Assert.True(perIo < limit, $"{perIo} bytes allocated per {rw} through the FUSE export (limit {limit})");
                Assert.True(!ioUring || export.RingRequests >= Ios, $"the io_uring queues served {export.RingRequests} requests");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
