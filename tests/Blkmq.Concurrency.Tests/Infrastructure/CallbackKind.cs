namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>The driver callbacks the probe counts.</summary>
public enum CallbackKind
{
    /// <summary><c>QueueRq</c>.</summary>
    QueueRq,

    /// <summary><c>CommitRqs</c>.</summary>
    CommitRqs,

    /// <summary><c>Complete</c>.</summary>
    Complete,

    /// <summary><c>Timeout</c>.</summary>
    Timeout,

    /// <summary><c>Poll</c>.</summary>
    Poll,

    /// <summary><c>InitHctx</c>.</summary>
    InitHctx,

    /// <summary><c>ExitHctx</c>.</summary>
    ExitHctx,
}
