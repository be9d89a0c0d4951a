namespace Blkmq.Filters;

/// <summary>The errno names filters take (<c>error=ENOSPC</c>) and the status each becomes.</summary>
internal static class ErrnoNames
{
    /// <summary>The names accepted, for messages.</summary>
    public const string Known = "EIO, ENOSPC, EROFS, EPERM, EINVAL, ENOTSUP, ETIMEDOUT, ENODEV";

    /// <summary>Parses an errno name.</summary>
    /// <exception cref="FormatException">The name is not one of <see cref="Known"/>.</exception>
    public static BlockStatus Parse(string filter, string text) => text.ToUpperInvariant() switch
    {
        "EIO" => BlockStatus.IoError,
        "ENOSPC" => BlockStatus.NoSpace,
        "EROFS" or "EPERM" => BlockStatus.ReadOnly,
        "EINVAL" => BlockStatus.Invalid,
        "ENOTSUP" or "EOPNOTSUPP" => BlockStatus.NotSupported,
        "ETIMEDOUT" => BlockStatus.Timeout,
        "ENODEV" or "ESHUTDOWN" => BlockStatus.Offline,
        _ => throw new FormatException($"filter '{filter}': error={text} is not one of {Known}."),
    };
}
