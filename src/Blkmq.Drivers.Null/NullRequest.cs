namespace Blkmq.Drivers.Null;

/// <summary>The null driver's per-request data (null_blk's <c>struct nullb_cmd</c>).</summary>
public struct NullRequest
{
    /// <summary>Gets or sets the status the request will end with once its completion fires.</summary>
    public BlockStatus Status { get; set; }
}
