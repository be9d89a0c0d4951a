using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Rbd.Interop;

/// <summary>
/// The part of librbd's C API (<c>rbd/librbd.h</c>) the driver needs. Loaded as <c>librbd.so.1</c> (Debian's
/// <c>librbd1</c>). Functions return 0 (or a byte count) on success and a negative errno on failure; an
/// <c>rbd_aio_*</c> call that returns 0 calls the completion's callback exactly once, on a librbd thread.
/// </summary>
internal static unsafe partial class Librbd
{
    public const string Library = "librbd.so.1";

    /// <summary><c>RBD_FEATURE_EXCLUSIVE_LOCK</c></summary>
    public const ulong FeatureExclusiveLock = 1UL << 2;

    /// <summary><c>RBD_FEATURE_OBJECT_MAP</c></summary>
    public const ulong FeatureObjectMap = 1UL << 3;

    /// <summary><c>RBD_FEATURE_FAST_DIFF</c></summary>
    public const ulong FeatureFastDiff = 1UL << 4;

    /// <summary><c>RBD_LOCK_MODE_EXCLUSIVE</c></summary>
    public const int LockModeExclusive = 0;

    /// <summary><c>RBD_WRITE_ZEROES_FLAG_THICK_PROVISION</c>: write zeroes instead of deallocating.</summary>
    public const int WriteZeroesFlagThickProvision = 1 << 0;

    /// <summary><c>int rbd_create(rados_ioctx_t io, const char *name, uint64_t size, int *order)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Create(nint ioctx, string name, ulong size, ref int order);

    /// <summary><c>int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_open", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(nint ioctx, string name, out nint image, string? snapName);

    /// <summary><c>int rbd_open_read_only(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_open_read_only", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int OpenReadOnly(nint ioctx, string name, out nint image, string? snapName);

    /// <summary><c>int rbd_close(rbd_image_t image)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_close")]
    public static partial int Close(nint image);

    /// <summary><c>int rbd_stat(rbd_image_t image, rbd_image_info_t *info, size_t infosize)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_stat")]
    public static partial int Stat(nint image, RbdImageInfo* info, nuint infoSize);

    /// <summary><c>int rbd_get_features(rbd_image_t image, uint64_t *features)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_get_features")]
    public static partial int GetFeatures(nint image, out ulong features);

    /// <summary><c>int rbd_lock_acquire(rbd_image_t image, rbd_lock_mode_t lock_mode)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_lock_acquire")]
    public static partial int LockAcquire(nint image, int lockMode);

    /// <summary><c>int rbd_lock_release(rbd_image_t image)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_lock_release")]
    public static partial int LockRelease(nint image);

    /// <summary><c>int rbd_aio_create_completion(void *cb_arg, rbd_callback_t complete_cb, rbd_completion_t *c)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_create_completion")]
    public static partial int AioCreateCompletion(void* arg, delegate* unmanaged[Cdecl]<nint, void*, void> callback, out nint completion);

    /// <summary><c>ssize_t rbd_aio_get_return_value(rbd_completion_t c)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_get_return_value")]
    public static partial nint AioGetReturnValue(nint completion);

    /// <summary><c>void rbd_aio_release(rbd_completion_t c)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_release")]
    public static partial void AioRelease(nint completion);

    /// <summary><c>int rbd_aio_readv(rbd_image_t image, const struct iovec *iov, int iovcnt, uint64_t off, rbd_completion_t c)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_readv")]
    public static partial int AioReadV(nint image, IoVec* iov, int iovCount, ulong offset, nint completion);

    /// <summary><c>int rbd_aio_writev(rbd_image_t image, const struct iovec *iov, int iovcnt, uint64_t off, rbd_completion_t c)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_writev")]
    public static partial int AioWriteV(nint image, IoVec* iov, int iovCount, ulong offset, nint completion);

    /// <summary><c>int rbd_aio_discard(rbd_image_t image, uint64_t off, uint64_t len, rbd_completion_t c)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_discard")]
    public static partial int AioDiscard(nint image, ulong offset, ulong length, nint completion);

    /// <summary><c>int rbd_aio_write_zeroes(rbd_image_t image, uint64_t off, size_t len, rbd_completion_t c, int zero_flags, int op_flags)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_write_zeroes")]
    public static partial int AioWriteZeroes(nint image, ulong offset, nuint length, nint completion, int zeroFlags, int opFlags);

    /// <summary><c>int rbd_aio_flush(rbd_image_t image, rbd_completion_t c)</c></summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_flush")]
    public static partial int AioFlush(nint image, nint completion);

    /// <summary>
    /// <c>int rbd_diff_iterate2(rbd_image_t image, const char *fromsnapname, uint64_t ofs, uint64_t len,
    /// uint8_t include_parent, uint8_t whole_object, int (*cb)(uint64_t, size_t, int, void *), void *arg)</c>
    /// </summary>
    [LibraryImport(Library, EntryPoint = "rbd_diff_iterate2")]
    public static partial int DiffIterate2(nint image, byte* fromSnapName, ulong offset, ulong length, byte includeParent, byte wholeObject, delegate* unmanaged[Cdecl]<ulong, nuint, int, void*, int> callback, void* arg);
}
