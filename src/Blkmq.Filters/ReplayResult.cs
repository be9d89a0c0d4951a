using System.Runtime.InteropServices;

namespace Blkmq.Filters;

/// <summary>What a replay applied.</summary>
/// <param name="Applied">Writes (and discards, zeroes) applied up to the target.</param>
/// <param name="Dropped">Writes the broken mode dropped.</param>
/// <param name="CrashLanded">Of the crash window's writes, how many were applied.</param>
/// <param name="CrashWindow">The writes after the target up to the next flush point (with <c>--crash</c>).</param>
[StructLayout(LayoutKind.Auto)]
internal readonly record struct ReplayResult(int Applied, int Dropped, int CrashLanded, int CrashWindow);
