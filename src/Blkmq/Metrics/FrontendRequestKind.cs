namespace Blkmq.Metrics;

/// <summary>What a front end's request asked for, as <see cref="FrontendCounters"/> counts it (the <c>op</c> tag).</summary>
public enum FrontendRequestKind
{
    /// <summary>A read (NBD_CMD_READ, FUSE_READ).</summary>
    Read = 0,

    /// <summary>A write (NBD_CMD_WRITE, FUSE_WRITE).</summary>
    Write = 1,

    /// <summary>A flush (NBD_CMD_FLUSH, FUSE_FSYNC).</summary>
    Flush = 2,

    /// <summary>A discard (NBD_CMD_TRIM, a hole punched with FUSE_FALLOCATE).</summary>
    Discard = 3,

    /// <summary>A write of zeroes (NBD_CMD_WRITE_ZEROES, FUSE_FALLOCATE's zero range).</summary>
    WriteZeroes = 4,

    /// <summary>Anything else: block status, cache, lookups, attributes, bad requests.</summary>
    Other = 5,
}
