namespace Blkmq.Drivers;

/// <summary>
/// The disks a <see cref="DriverDescriptor"/> created, with the object that owns them. Disposing the instance
/// disposes <see cref="Owner"/>, which removes the disks; no disk of <see cref="Disks"/> may be used after that.
/// </summary>
public sealed class DriverInstance : IAsyncDisposable
{
    private int _disposed;

    /// <summary>Gets the name of the driver that made the disks.</summary>
    public required string DriverName { get; init; }

    /// <summary>Gets the disks, at least one, the first being the one a front end serves by default.</summary>
    public required IReadOnlyList<Disk> Disks { get; init; }

    /// <summary>
    /// Gets the driver's object that owns the disks (for the null driver its <c>NullBlock</c>), which a driver's own
    /// tools (a control protocol) may look for; disposed with the instance.
    /// </summary>
    public required IAsyncDisposable Owner { get; init; }

    /// <summary>Gets a one-line description of the disks for people, such as <c>memory disk, 1073741824 bytes, 512-byte blocks</c>.</summary>
    public string Summary { get; init; } = string.Empty;

    /// <summary>Gets every effective parameter in the driver's own <c>key=value,...</c> notation, for reports.</summary>
    public string Parameters { get; init; } = string.Empty;

    /// <summary>
    /// Gets how long the driver may hold a request on purpose before it ends it (a timer completion, a delay): a
    /// watcher that takes silence for a lost completion waits this much longer. Zero for a driver that never waits.
    /// </summary>
    public TimeSpan CompletionDelay { get; init; }

    /// <summary>
    /// Gets the files this instance created when it started (a file driver's <c>create=</c>): a host whose start fails
    /// after the instance was made removes them, so that a refused command leaves nothing behind; on a normal stop they
    /// stay (they hold the disk's data).
    /// </summary>
    public IReadOnlyList<string> CreatedFiles { get; init; } = [];

    /// <summary>Deletes <see cref="CreatedFiles"/>, after a start that failed; best effort, never throws.</summary>
    /// <returns>Each file with why it could not be removed, or <see langword="null"/> when it was.</returns>
    public List<(string Path, string? Error)> RemoveCreatedFiles()
    {
        var outcomes = new List<(string Path, string? Error)>(CreatedFiles.Count);
        foreach (string path in CreatedFiles)
        {
            try
            {
                File.Delete(path);
                outcomes.Add((path, null));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                outcomes.Add((path, ex.Message));
            }
        }

        return outcomes;
    }

    /// <summary>Gets the first disk.</summary>
    public Disk Disk => Disks[0];

    /// <summary>Removes the disks by disposing <see cref="Owner"/>; later calls do nothing.</summary>
    /// <returns>A task that completes once the disks are removed.</returns>
    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _disposed, 1) == 0 ? Owner.DisposeAsync() : ValueTask.CompletedTask;
}
