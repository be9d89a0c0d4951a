namespace Blkmq.Drivers.File;

/// <summary>Whether the file driver bypasses the page cache with <c>O_DIRECT</c> (<c>direct=</c>).</summary>
public enum DirectIoMode
{
    /// <summary><c>O_DIRECT</c> when the file system supports it (statx reports its alignment; block devices always do), else buffered.</summary>
    Auto = 0,

    /// <summary><c>O_DIRECT</c> or fail at start.</summary>
    On = 1,

    /// <summary>Buffered IO through the page cache.</summary>
    Off = 2,
}
