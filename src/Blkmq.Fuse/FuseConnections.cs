namespace Blkmq.Fuse;

/// <summary>
/// The kernel's FUSE connections, as <c>/sys/fs/fuse/connections/N</c> shows them: N is the minor device number of
/// the mount (<c>/proc/self/mountinfo</c>, third field), and writing to its <c>abort</c> file ends the connection,
/// so that every blocked read of the device returns <c>ENODEV</c>.
/// </summary>
internal static class FuseConnections
{
    /// <summary>Gets the connection id of the FUSE mount at <paramref name="mountPoint"/>, or null if there is none.</summary>
    public static string? Find(string mountPoint)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/mountinfo"))
            {
                // "36 35 0:52 / /mnt/point rw,nosuid - fuse.blkmq blkmq rw,...": fields 3 (dev) and 5 (mount point).
                string[] fields = line.Split(' ');
                if (fields.Length > 8 && Unescape(fields[4]) == mountPoint && Array.IndexOf(fields, "fuse.blkmq") > 0)
                {
                    string device = fields[2];
                    int colon = device.IndexOf(':', StringComparison.Ordinal);
                    return colon < 0 ? null : device[(colon + 1)..];
                }
            }
        }
        catch (IOException)
        {
            // No mount table to read: nothing to abort later.
        }

        return null;
    }

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

    /// <summary>Undoes mountinfo's octal escapes (<c>\040</c> for a space, and tab, newline and backslash).</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var result = new System.Text.StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                result.Append((char)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                result.Append(field[i]);
            }
        }

        return result.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
