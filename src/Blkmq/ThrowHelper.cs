using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>Throw sites kept out of hot methods so that those stay small enough to inline.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowStaleRequest(long word, long generation) => throw CreateStaleRequest(word, generation);

    [DoesNotReturn]
    public static void ThrowAlreadyEnded(long word, long generation) => throw CreateAlreadyEnded(word, generation);

    [DoesNotReturn]
    public static void ThrowResultAlreadyRead() => throw CreateResultAlreadyRead();

    [DoesNotReturn]
    public static void ThrowInvalidStatus(BlockStatus status) => throw CreateInvalidStatus(status);

    [DoesNotReturn]
    public static void ThrowObjectDisposed(string name) => throw new ObjectDisposedException(name);

    [DoesNotReturn]
    public static void ThrowArgument(string message, string paramName) => throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowArgumentOutOfRange(string paramName, object? actual, string message) =>
        throw new ArgumentOutOfRangeException(paramName, actual, message);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidOperationException CreateStaleRequest(long word, long generation) =>
        new(RequestState.Generation(word) != generation
            ? $"Request handle is stale: it belongs to IO generation {generation}, the slot now holds generation {RequestState.Generation(word)}."
            : $"Request is not owned by the driver (state {StateName(RequestState.State(word))}): it was already ended or handed to completion.");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidOperationException CreateAlreadyEnded(long word, long generation) =>
        new($"Request already ended: {CreateStaleRequest(word, generation).Message}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidOperationException CreateResultAlreadyRead() =>
        new("The result of this IO was already read: a ValueTask from the block device may be awaited only once.");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentOutOfRangeException CreateInvalidStatus(BlockStatus status) =>
        new(nameof(status), status, "Not a status a request can end with.");

    public static string StateName(int state) => state switch
    {
        RequestState.Free => "free",
        RequestState.Prepared => "prepared",
        RequestState.Dispatching => "dispatching",
        RequestState.InFlight => "in flight",
        RequestState.Completing => "completing",
        RequestState.CompleteCallback => "in Complete",
        RequestState.TimingOut => "in Timeout",
        RequestState.EndedInline => "ended",
        RequestState.Ended => "ended",
        RequestState.Releasing => "released",
        _ => state.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
