namespace Blkmq.Tests.Infrastructure;

/// <summary>
/// A <see cref="BlockDevice"/> used in one of the <see cref="CompletionModes"/>: the same calls, each returning a task
/// that ends with the IO. When polled, reads, writes and zone appends are submitted with
/// <see cref="RequestFlags.Polled"/> and the task polls the disk until the IO ends (the submitter reaps its own
/// completions, as with io_uring's IOPOLL); a hang fails the test. Argument errors still throw before anything is
/// submitted, as <see cref="BlockDevice"/>'s do.
/// </summary>
internal sealed class ModeDevice
{
    private readonly RequestFlags _flags;
    private int _reaped;

    public ModeDevice(BlockDevice device, bool polled)
    {
        Device = device;
        IsPolled = polled;
        _flags = polled ? RequestFlags.Polled : RequestFlags.None;
    }

    /// <summary>Gets the device underneath, for what is not IO (zone reports, sizes).</summary>
    public BlockDevice Device { get; }

    /// <summary>Gets whether reads, writes and zone appends go to a poll queue.</summary>
    public bool IsPolled { get; }

    /// <summary>Gets how many requests this device's polls ended (any submitter's, as <see cref="Disk.Poll"/> reaps them all).</summary>
    public int Reaped => Volatile.Read(ref _reaped);

    public bool IsZoned => Device.IsZoned;

    public long ZoneSize => Device.ZoneSize;

    public int ZoneCount => Device.ZoneCount;

    public long Size => Device.Size;

    public Task ReadAsync(long offset, Memory<byte> buffer) => Reap(Device.ReadAsync(offset, buffer, _flags));

    public Task WriteAsync(long offset, ReadOnlyMemory<byte> data, RequestFlags flags = RequestFlags.None) =>
        Reap(Device.WriteAsync(offset, data, flags | _flags));

    public Task<long> ZoneAppendAsync(long zoneOffset, ReadOnlyMemory<byte> data) => Reap(Device.ZoneAppendAsync(zoneOffset, data, _flags));

    public Task<BlockStatus> ReadStatusAsync(long offset, Memory<byte> buffer) => Reap(Device.ReadStatusAsync(offset, buffer, _flags));

    public Task<BlockStatus> WriteStatusAsync(long offset, ReadOnlyMemory<byte> data) => Reap(Device.WriteStatusAsync(offset, data, _flags));

    // These take no request flags, so they never reach a poll queue; polling is harmless and keeps one shape.
    public Task FlushAsync() => Reap(Device.FlushAsync());

    public Task DiscardAsync(long offset, long length) => Reap(Device.DiscardAsync(offset, length));

    public Task WriteZeroesAsync(long offset, long length, bool mayUnmap = true) => Reap(Device.WriteZeroesAsync(offset, length, mayUnmap));

    public Task ZoneManagementAsync(RequestOp operation, long zoneOffset = 0) => Reap(Device.ZoneManagementAsync(operation, zoneOffset));

    public BlockZone[] ReportZones(long offset = 0, int maxZones = int.MaxValue) => Device.ReportZones(offset, maxZones);

    public int ReportZones(long offset, Span<BlockZone> zones) => Device.ReportZones(offset, zones);

    private Task Reap(ValueTask io) => IsPolled && !io.IsCompleted ? PollUntilDoneAsync(io.AsTask()) : io.AsTask();

    private Task<T> Reap<T>(ValueTask<T> io) => IsPolled && !io.IsCompleted ? PollUntilDoneAsync(io.AsTask()) : io.AsTask();

    private async Task PollUntilDoneAsync(Task io)
    {
        await PollUntilCompletedAsync(io);
        await io;
    }

    private async Task<T> PollUntilDoneAsync<T>(Task<T> io)
    {
        await PollUntilCompletedAsync(io);
        return await io;
    }

    private async Task PollUntilCompletedAsync(Task io)
    {
        using var hung = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        hung.CancelAfter(HangGuard.Limit);
        while (!io.IsCompleted)
        {
            // Nothing to reap yet: the IO waits for a restart, a requeue or the block layer's timeout.
            int reaped = Device.Poll();
            Interlocked.Add(ref _reaped, reaped);
            if (reaped == 0 && !io.IsCompleted)
            {
                try
                {
                    await Task.Delay(1, hung.Token);
                }
                catch (OperationCanceledException hang) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"A polled IO did not end within {HangGuard.Limit.TotalSeconds} s of polling.", hang);
                }
            }
        }
    }
}
