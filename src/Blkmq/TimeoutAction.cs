namespace Blkmq;

/// <summary>What a driver's <c>Timeout</c> callback asks the block layer to do (Linux <c>blk_eh_timer_return</c>).</summary>
public enum TimeoutAction : byte
{
    /// <summary>
    /// The block layer ends the request with <see cref="BlockStatus.Timeout"/> unless the driver has already
    /// ended it (<c>BLK_EH_DONE</c>).
    /// </summary>
    Done = 0,

    /// <summary>The driver still owns the request and wants another full timeout period (<c>BLK_EH_RESET_TIMER</c>).</summary>
    ResetTimer = 1,
}
