namespace Blkmq.Fuse;

/// <summary>Whether a <see cref="FuseExport"/> serves the kernel over io_uring (Linux 6.14+) or over <c>/dev/fuse</c> reads and writes.</summary>
public enum FuseIoUringMode
{
    /// <summary>io_uring when the kernel offers it (<c>/sys/module/fuse/parameters/enable_uring</c> is Y), else <c>/dev/fuse</c>.</summary>
    Auto,

    /// <summary>io_uring or nothing: mounting fails when the kernel does not offer it or registration fails.</summary>
    On,

    /// <summary><c>/dev/fuse</c> reads and writes only.</summary>
    Off,
}
