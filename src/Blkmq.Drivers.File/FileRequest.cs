namespace Blkmq.Drivers.File;

/// <summary>
/// The file driver's per-request data: none. What an IO needs while the kernel has it (pinned buffers, its iovec
/// array, how much is left) lives in the hardware queue's per-tag state, so a completion can release it even for a
/// request it can no longer look up.
/// </summary>
public readonly struct FileRequest
{
}
