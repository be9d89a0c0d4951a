namespace Blkmq.Fuse;

/// <summary>One line of <c>/proc/self/mountinfo</c>, the fields the FUSE export reads.</summary>
/// <param name="MountPoint">Where it is mounted (mountinfo's octal escapes undone).</param>
/// <param name="Device">The device number, <c>MAJOR:MINOR</c>; for FUSE the minor is the connection's number.</param>
/// <param name="FileSystemType">The type, such as <c>fuse.blkmq</c>.</param>
/// <param name="Source">The mount's source: for a Blkmq export <c>blkmq:PID</c>, PID the serving process.</param>
internal sealed record FuseMountEntry(string MountPoint, string Device, string FileSystemType, string Source)
{
    /// <summary>The type of every Blkmq FUSE mount.</summary>
    public const string BlkmqType = "fuse.blkmq";

    /// <summary>The source of a Blkmq FUSE mount before the colon and the server's process id.</summary>
    public const string BlkmqSource = "blkmq";

    /// <summary>Gets whether a Blkmq FUSE export made this mount.</summary>
    public bool IsBlkmq => FileSystemType == BlkmqType;

    /// <summary>Gets whether this is a FUSE mount of any server (type <c>fuse</c>, <c>fuse.NAME</c> or <c>fuseblk</c>).</summary>
    public bool IsFuse => FileSystemType is "fuse" or "fuseblk" || FileSystemType.StartsWith("fuse.", StringComparison.Ordinal);

    /// <summary>Gets the FUSE connection's number (<c>/sys/fs/fuse/connections/N</c>): the device's minor number.</summary>
    public string? Connection
    {
        get
        {
            int colon = Device.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? null : Device[(colon + 1)..];
        }
    }

    /// <summary>Gets the id of the process that serves a Blkmq mount, from its source <c>blkmq:PID</c>; null if it does not name one.</summary>
    public int? ServerProcessId =>
        IsBlkmq
        && Source.StartsWith(BlkmqSource + ":", StringComparison.Ordinal)
        && int.TryParse(Source.AsSpan(BlkmqSource.Length + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)
        && pid > 0
            ? pid
            : null;
}
