namespace Blkmq.Fuse;

/// <summary>Reads this process's mount table, <c>/proc/self/mountinfo</c>.</summary>
internal static class FuseMountTable
{
    /// <summary>
    /// Gets the mount on top at <paramref name="mountPoint"/> (the last of the table's lines for that path: a later mount
    /// hides the earlier ones), or null if nothing is mounted there or the table cannot be read.
    /// </summary>
    /// <param name="mountPoint">A full path without a trailing slash.</param>
    public static FuseMountEntry? FindTop(string mountPoint)
    {
        FuseMountEntry? top = null;
        try
        {
            foreach (string line in File.ReadLines("/proc/self/mountinfo"))
            {
                if (TryParse(line, out FuseMountEntry? entry) && entry.MountPoint == mountPoint)
                {
                    top = entry;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No mount table to read (not Linux's procfs): as if nothing were mounted.
        }

        return top;
    }

    /// <summary>Gets how many mounts are stacked at <paramref name="mountPoint"/>; 0 when the table cannot be read.</summary>
    /// <param name="mountPoint">A full path without a trailing slash.</param>
    public static int Count(string mountPoint)
    {
        int count = 0;
        try
        {
            foreach (string line in File.ReadLines("/proc/self/mountinfo"))
            {
                if (TryParse(line, out FuseMountEntry? entry) && entry.MountPoint == mountPoint)
                {
                    count++;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No mount table to read: nothing known to be mounted.
        }

        return count;
    }

    /// <summary>
    /// Parses one line: <c>36 35 0:52 / /mnt/point rw,nosuid shared:1 - fuse.blkmq blkmq:1234 rw,...</c>: the device is
    /// field 3, the mount point field 5, then optional fields up to <c>-</c>, then type and source.
    /// </summary>
    internal static bool TryParse(string line, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out FuseMountEntry? entry)
    {
        string[] fields = line.Split(' ');
        int separator = Array.IndexOf(fields, "-", 6);
        if (fields.Length < 7 || separator < 0 || separator + 2 >= fields.Length)
        {
            entry = null;
            return false;
        }

        entry = new FuseMountEntry(Unescape(fields[4]), fields[2], fields[separator + 1], Unescape(fields[separator + 2]));
        return true;
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
