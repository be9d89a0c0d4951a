namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>Turns an IO's outcome into its <see cref="BlockStatus"/>, so racing IOs can be compared by status.</summary>
internal static class IoStatus
{
    /// <summary>Awaits <paramref name="io"/>.</summary>
    /// <returns><see cref="BlockStatus.Ok"/>, or the status the IO failed with.</returns>
    public static async Task<BlockStatus> Of(ValueTask io)
    {
        try
        {
            await io;
            return BlockStatus.Ok;
        }
        catch (BlockIOException ex)
        {
            return ex.Status;
        }
    }
}
