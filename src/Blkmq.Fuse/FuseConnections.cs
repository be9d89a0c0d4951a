namespace Blkmq.Fuse;

/// <summary>
/// The kernel's FUSE connections, as <c>/sys/fs/fuse/connections/N</c> shows them: N is the minor device number of
/// the mount (<c>/proc/self/mountinfo</c>, third field), and writing to its <c>abort</c> file ends the connection,
/// so that every blocked read of the device returns <c>ENODEV</c>.
/// </summary>
internal static class FuseConnections
{
    /// <summary>Gets the connection id of the Blkmq FUSE mount on top at <paramref name="mountPoint"/>, or null if there is none.</summary>
    public static string? Find(string mountPoint) => FuseMountTable.FindTop(mountPoint) is { IsBlkmq: true } entry ? entry.Connection : null;

    /// <summary>Aborts connection <paramref name="connection"/> (from <see cref="Find"/>); does nothing for null.</summary>
    public static void Abort(string? connection)
    {
        if (connection is null)
        {
            return;
        }

        try
        {
            // Systems without systemd may not have the control file system mounted.
            if (!Directory.Exists($"/sys/fs/fuse/connections/{connection}"))
            {
                _ = Interop.Libc.Mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, string.Empty);
            }

            File.WriteAllText($"/sys/fs/fuse/connections/{connection}/abort", "1");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone already (the last user closed the file meanwhile), or fusectl is not mounted: nothing to abort.
        }
    }
}
