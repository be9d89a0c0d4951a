using Microsoft.Extensions.Logging;

namespace Blkmq.Fuzz;

/// <summary>
/// A logger that remembers the log events a harness treats as bugs (an exception the code under test caught at its
/// last line of defence: "connection failed", "request threw"), so the harness can throw them after the run.
/// </summary>
internal sealed class ErrorLogger : ILogger, ILoggerFactory
{
    private readonly HashSet<int> _bugEventIds;
    private readonly Lock _lock = new();
    private string? _first;

    /// <summary>Initializes a new instance of the <see cref="ErrorLogger"/> class.</summary>
    /// <param name="bugEventIds">The event ids that mean a bug.</param>
    public ErrorLogger(params int[] bugEventIds)
    {
        _bugEventIds = [.. bugEventIds];
    }

    /// <summary>Throws the first bug logged since the last call, and forgets it.</summary>
    /// <exception cref="FuzzFindingException">A bug was logged.</exception>
    public void ThrowIfLogged()
    {
        string? first;
        lock (_lock)
        {
            first = _first;
            _first = null;
        }

        if (first is not null)
        {
            throw new FuzzFindingException(first);
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!_bugEventIds.Contains(eventId.Id))
        {
            return;
        }

        string text = formatter(state, exception) + (exception is null ? string.Empty : ": " + exception);
        lock (_lock)
        {
            _first ??= text;
        }
    }

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}
