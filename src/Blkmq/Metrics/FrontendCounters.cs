using System.Diagnostics.Metrics;

namespace Blkmq.Metrics;

/// <summary>
/// A front end's counters (an NBD server, a FUSE export): connections, requests per kind, bytes read and written,
/// reported on <see cref="BlkmqMeter"/> as <c>blkmq.frontend.connections</c> ({connection}, open now),
/// <c>blkmq.frontend.connections.opened</c> ({connection}), <c>blkmq.frontend.requests</c> ({request}, tag
/// <c>op</c>) and <c>blkmq.frontend.io</c> (By, tag <c>direction</c> read or write), all tagged
/// <c>frontend</c>. Each thread that serves requests counts into its own <see cref="FrontendCounterShard"/>, so a
/// request costs two plain stores; the instruments sum the shards when a listener collects.
/// </summary>
/// <remarks>Thread safety: shards are opened and retired from any thread; <see cref="Dispose"/> takes the front end out of the instruments.</remarks>
public sealed class FrontendCounters : IDisposable
{
    private const int Kinds = (int)FrontendRequestKind.Other + 1;

    private static readonly Lock s_registryLock = new();
    private static readonly List<FrontendCounters> s_registry = [];
    private static readonly string[] s_kindNames = ["read", "write", "flush", "discard", "write_zeroes", "other"];

    private readonly Lock _lock = new();
    private readonly List<FrontendCounterShard> _live = [];
    private readonly long[] _retiredRequests = new long[Kinds];
    private long _retiredBytesRead;
    private long _retiredBytesWritten;
    private long _open;
    private long _opened;
    private bool _disposed;

    /// <summary>Initializes a new instance of the <see cref="FrontendCounters"/> class and shows it to the instruments.</summary>
    /// <param name="frontend">The <c>frontend</c> tag: <c>nbd</c>, <c>fuse</c>.</param>
    public FrontendCounters(string frontend)
    {
        ArgumentException.ThrowIfNullOrEmpty(frontend);
        Frontend = frontend;
        _ = Instruments;
        lock (s_registryLock)
        {
            s_registry.Add(this);
        }
    }

    /// <summary>Gets the front end's name, the <c>frontend</c> tag.</summary>
    public string Frontend { get; }

    internal static IReadOnlyList<Instrument> Instruments { get; } = CreateInstruments();

    /// <summary>Counts a new connection and gives it its shard; disposing the shard closes the connection.</summary>
    /// <returns>The connection's shard, for its serving thread.</returns>
    public FrontendCounterShard OpenConnection()
    {
        var shard = new FrontendCounterShard(this, isConnection: true);
        lock (_lock)
        {
            _live.Add(shard);
            _open++;
            _opened++;
        }

        return shard;
    }

    /// <summary>Gives one more serving thread of an open connection (a FUSE worker) its shard.</summary>
    /// <returns>The thread's shard.</returns>
    public FrontendCounterShard AddWorker()
    {
        var shard = new FrontendCounterShard(this, isConnection: false);
        lock (_lock)
        {
            _live.Add(shard);
        }

        return shard;
    }

    /// <summary>Takes a snapshot: retired shards' totals plus the live shards' counts.</summary>
    /// <returns>The counters.</returns>
    public FrontendStats GetStatistics()
    {
        long[] requests = new long[Kinds];
        long bytesRead;
        long bytesWritten;
        long open;
        long opened;
        lock (_lock)
        {
            _retiredRequests.CopyTo(requests, 0);
            bytesRead = _retiredBytesRead;
            bytesWritten = _retiredBytesWritten;
            foreach (FrontendCounterShard shard in _live)
            {
                shard.AddTo(requests, ref bytesRead, ref bytesWritten);
            }

            open = _open;
            opened = _opened;
        }

        return new FrontendStats
        {
            Frontend = Frontend,
            OpenConnections = open,
            ConnectionsOpened = opened,
            Requests = requests,
            BytesRead = bytesRead,
            BytesWritten = bytesWritten,
        };
    }

    /// <summary>Takes the front end out of the instruments; its shards may still count, unseen.</summary>
    public void Dispose()
    {
        lock (s_registryLock)
        {
            s_registry.Remove(this);
        }

        lock (_lock)
        {
            _disposed = true;
        }
    }

    internal void Retire(FrontendCounterShard shard)
    {
        lock (_lock)
        {
            if (!_live.Remove(shard) || _disposed)
            {
                return;
            }

            // The owner has stopped: its last counts are final.
            shard.AddTo(_retiredRequests, ref _retiredBytesRead, ref _retiredBytesWritten);
            if (shard.IsConnection)
            {
                _open--;
            }
        }
    }

    private static FrontendStats[] Snapshots()
    {
        FrontendCounters[] all;
        lock (s_registryLock)
        {
            all = [.. s_registry];
        }

        return Array.ConvertAll(all, static counters => counters.GetStatistics());
    }

    private static KeyValuePair<string, object?> Tag(FrontendStats stats) => new("frontend", stats.Frontend);

    private static Instrument[] CreateInstruments()
    {
        Meter meter = BlkmqMeter.Meter;
        return
        [
            meter.CreateObservableUpDownCounter(
                "blkmq.frontend.connections",
                static () => Array.ConvertAll(Snapshots(), static s => new Measurement<long>(s.OpenConnections, Tag(s))),
                "{connection}",
                "Client connections open now."),
            meter.CreateObservableCounter(
                "blkmq.frontend.connections.opened",
                static () => Array.ConvertAll(Snapshots(), static s => new Measurement<long>(s.ConnectionsOpened, Tag(s))),
                "{connection}",
                "Client connections opened."),
            meter.CreateObservableCounter(
                "blkmq.frontend.requests",
                static () => Snapshots().SelectMany(static s => s.Requests.Select(
                    (count, kind) => new Measurement<long>(count, Tag(s), new KeyValuePair<string, object?>("op", s_kindNames[kind])))),
                "{request}",
                "Requests received from clients."),
            meter.CreateObservableCounter(
                "blkmq.frontend.io",
                static () => Snapshots().SelectMany(static s => new[]
                {
                    new Measurement<long>(s.BytesRead, Tag(s), new KeyValuePair<string, object?>("direction", "read")),
                    new Measurement<long>(s.BytesWritten, Tag(s), new KeyValuePair<string, object?>("direction", "write")),
                }),
                "By",
                "Bytes clients read and wrote."),
        ];
    }
}
