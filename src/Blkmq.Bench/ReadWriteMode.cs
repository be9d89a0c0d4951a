namespace Blkmq.Bench;

/// <summary>The IO pattern of a benchmark, as fio's <c>rw</c>.</summary>
public enum ReadWriteMode
{
    /// <summary>Sequential reads.</summary>
    Read,

    /// <summary>Sequential writes.</summary>
    Write,

    /// <summary>Random reads.</summary>
    RandRead,

    /// <summary>Random writes.</summary>
    RandWrite,

    /// <summary>Random reads and writes, mixed by <c>rwmixread</c>.</summary>
    RandRW,
}
