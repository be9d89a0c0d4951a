namespace Blkmq.Drivers.Rbd;

/// <summary>
/// The RBD driver's per-request data: none. What an IO needs while librbd has it (its completion record, pinned
/// buffers, iovecs) lives in the hardware queue's per-tag state, so a completion can release it even for a request
/// it can no longer look up.
/// </summary>
public readonly struct RbdRequest
{
}
