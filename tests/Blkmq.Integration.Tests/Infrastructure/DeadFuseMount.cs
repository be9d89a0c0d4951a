using System.Globalization;
using System.Runtime.InteropServices;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// Makes the mount a killed FUSE server leaves behind, without killing anything: <c>mount(2)</c> with a fresh
/// <c>/dev/fuse</c> descriptor that is closed at once, so the kernel ends the connection and every access to the mount
/// fails with <c>ENOTCONN</c>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static partial class DeadFuseMount
{
    private const int OpenReadWrite = 0x2;
    private const int OpenCloseOnExec = 0x80000;
    private const ulong MountNoSuid = 0x2;
    private const ulong MountNoDev = 0x4;

    /// <summary>Mounts a dead FUSE file system of type <paramref name="type"/> and source <paramref name="source"/> on <paramref name="mountPoint"/>.</summary>
    public static void Create(string mountPoint, string type, string source)
    {
        int fd = Open("/dev/fuse", OpenReadWrite | OpenCloseOnExec);
        Assert.True(fd >= 0, $"open /dev/fuse: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            string data = string.Create(CultureInfo.InvariantCulture, $"fd={fd},rootmode=40000,user_id=0,group_id=0");
            int result = Mount(source, mountPoint, type, MountNoSuid | MountNoDev, data);
            Assert.True(result == 0, $"mount {type} on {mountPoint}: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Detaches whatever is mounted at <paramref name="mountPoint"/> until nothing is (test cleanup).</summary>
    public static void DetachAll(string mountPoint)
    {
        while (MountTable.At(mountPoint).Count > 0 && Unmount(mountPoint, 2 /* MNT_DETACH */) == 0)
        {
        }
    }

    /// <summary><c>int open(const char *path, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    /// <summary><c>int close(int fd)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary><c>int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string source, string target, string fileSystemType, ulong flags, string data);

    /// <summary><c>int umount2(const char *target, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Unmount(string target, int flags);
}
