namespace Blkmq;

/// <summary>What a driver's <c>Timeout</c> callback asks the block layer to do (Linux <c>blk_eh_timer_return</c>).</summary>
/// <remarks>
/// Rule 8: the submitter gets its buffers back only when the driver can no longer touch them. <see cref="Done"/>
/// is the driver's word that it will not (it ended the request, or its device holds no reference to the
/// buffers); a driver whose device may still read or write them (an io_uring operation being cancelled, a
/// librbd callback still to come) returns <see cref="WillEnd"/> and ends the request when the device lets go.
/// </remarks>
public enum TimeoutAction : byte
{
    /// <summary>
    /// The driver is done with the request and its buffers: the block layer ends it with
    /// <see cref="BlockStatus.Timeout"/> (or <see cref="BlockStatus.Offline"/> when the disk is being removed)
    /// unless the driver has already ended it. The default when a driver has no <c>Timeout</c> callback.
    /// </summary>
    Done = 0,

    /// <summary>The driver still owns the request and wants another full timeout period (<c>BLK_EH_RESET_TIMER</c>).</summary>
    ResetTimer = 1,

    /// <summary>
    /// The driver is aborting the IO and will end the request itself once its device no longer touches the
    /// buffers (<c>BLK_EH_DONE</c> for an asynchronous driver). The block layer neither ends it nor times it
    /// out again; the submitter waits for the driver's end, and disk removal waits for it too.
    /// </summary>
    WillEnd = 2,
}
