namespace Blkmq.Ublk;

/// <summary>How request data moves between the kernel and the server (<see cref="UblkDeviceOptions.UserCopy"/>).</summary>
public enum UblkUserCopyMode
{
    /// <summary>USER_COPY when the kernel offers it (GET_FEATURES, Linux 6.5+), else per-tag buffers.</summary>
    Auto,

    /// <summary>
    /// <c>UBLK_F_USER_COPY</c>: the server reads a write's data from <c>/dev/ublkcN</c> with <c>pread</c> and writes a
    /// read's data to it with <c>pwrite</c>, at the request's position; FETCH and COMMIT carry no buffer address.
    /// Starting fails when the kernel lacks it.
    /// </summary>
    On,

    /// <summary>The kernel copies into (writes) and out of (reads) a buffer per tag whose address FETCH and COMMIT carry.</summary>
    Off,
}
