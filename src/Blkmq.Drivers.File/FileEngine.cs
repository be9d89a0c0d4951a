namespace Blkmq.Drivers.File;

/// <summary>How the file driver moves data (<c>engine=</c>).</summary>
public enum FileEngine
{
    /// <summary>io_uring when the kernel lets this process use it, else <see cref="Threads"/>; the log says which runs.</summary>
    Auto = 0,

    /// <summary>One io_uring per hardware queue, owned by one thread that submits and reaps; fails at start when io_uring is refused.</summary>
    IoUring = 1,

    /// <summary><c>preadv2</c> / <c>pwritev2</c> on a small pool of worker threads per hardware queue.</summary>
    Threads = 2,
}
