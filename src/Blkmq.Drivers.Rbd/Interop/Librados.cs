using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Rbd.Interop;

/// <summary>
/// The part of librados' C API (<c>rados/librados.h</c>) the driver needs: create a cluster handle, configure and
/// connect it, open a pool. Loaded as <c>librados.so.2</c> (Debian's <c>librados2</c>; the unversioned link comes only
/// with the -dev package). Every function returns 0 or a negative errno.
/// </summary>
internal static partial class Librados
{
    public const string Library = "librados.so.2";

    /// <summary><c>int rados_create2(rados_t *pcluster, const char *clustername, const char *name, uint64_t flags)</c></summary>
    [LibraryImport(Library, EntryPoint = "rados_create2", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Create2(out nint cluster, string clusterName, string name, ulong flags);

    /// <summary><c>int rados_conf_read_file(rados_t cluster, const char *path)</c>; a null path searches the default places.</summary>
    [LibraryImport(Library, EntryPoint = "rados_conf_read_file", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfReadFile(nint cluster, string? path);

    /// <summary><c>int rados_conf_set(rados_t cluster, const char *option, const char *value)</c></summary>
    [LibraryImport(Library, EntryPoint = "rados_conf_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfSet(nint cluster, string option, string value);

    /// <summary><c>int rados_connect(rados_t cluster)</c></summary>
    [LibraryImport(Library, EntryPoint = "rados_connect")]
    public static partial int Connect(nint cluster);

    /// <summary><c>void rados_shutdown(rados_t cluster)</c></summary>
    [LibraryImport(Library, EntryPoint = "rados_shutdown")]
    public static partial void Shutdown(nint cluster);

    /// <summary><c>int rados_ioctx_create(rados_t cluster, const char *pool_name, rados_ioctx_t *ioctx)</c></summary>
    [LibraryImport(Library, EntryPoint = "rados_ioctx_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int IoctxCreate(nint cluster, string poolName, out nint ioctx);

    /// <summary><c>void rados_ioctx_destroy(rados_ioctx_t io)</c></summary>
    [LibraryImport(Library, EntryPoint = "rados_ioctx_destroy")]
    public static partial void IoctxDestroy(nint ioctx);
}
