namespace Blkmq.Filters;

/// <summary>
/// A filter disk's hardware-queue data: none. An empty readonly struct, as a driver with concurrent <c>QueueRq</c>
/// needs, and so that, with <see cref="FilterRequestData"/> and <see cref="FilterDiskData"/>, every type argument of
/// the block layer's generic code is a value type: the JIT compiles it for filters alone, and the driver's constants
/// fold, where a class argument would share the code over <c>__Canon</c> and look types up at run time on every IO.
/// </summary>
internal readonly struct FilterQueue
{
}
