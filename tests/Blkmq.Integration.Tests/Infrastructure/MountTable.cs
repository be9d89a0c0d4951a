namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>The test process's view of the mount table (<c>/proc/self/mountinfo</c>), read independently of the product's parser.</summary>
internal static class MountTable
{
    /// <summary>Gets the mounts at <paramref name="mountPoint"/>, bottom first, as <c>TYPE SOURCE</c>; empty when nothing is mounted there.</summary>
    /// <param name="mountPoint">A full path without a trailing slash and without spaces.</param>
    public static IReadOnlyList<string> At(string mountPoint)
    {
        var mounts = new List<string>();
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // "36 35 0:52 / /mnt/point rw,nosuid shared:1 - fuse.blkmq blkmq:1234 rw,...": field 5 is the mount point,
            // type and source follow the "-".
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-", 6);
            if (fields.Length > 4 && fields[4] == mountPoint && separator > 0 && separator + 2 < fields.Length)
            {
                mounts.Add(fields[separator + 1] + " " + fields[separator + 2]);
            }
        }

        return mounts;
    }
}
