using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Blkmq.Metrics;

namespace Blkmq.Tests.Metrics;

/// <summary>
/// A <see cref="MeterListener"/> on the Blkmq meter that keeps what it sees for one disk or front end (tests run in
/// parallel, and the meter is the process's): the last observed value per instrument and tag set, and the histogram's
/// recordings. Its measurement callbacks allocate nothing for recordings of other disks, and only count for its own.
/// </summary>
internal sealed class MetricsCollector : IDisposable
{
    private static readonly string[] s_ops = ["read", "write", "discard", "flush"];

    private readonly MeterListener _listener = new();
    private readonly string _tagKey;
    private readonly string _tagValue;
    private readonly ConcurrentDictionary<string, double> _observed = new(StringComparer.Ordinal);
    private readonly long[] _durationCounts = new long[4];
    private long _durationOther;

    public MetricsCollector(string tagKey, string tagValue, bool enableHistogram)
    {
        _tagKey = tagKey;
        _tagValue = tagValue;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == BlkmqMeter.Name && (enableHistogram || instrument is not Histogram<double>))
            {
                listener.EnableMeasurementEvents(instrument, this);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (instrument, value, tags, state) => ((MetricsCollector)state!).OnMeasurement(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>(static (instrument, value, tags, state) => ((MetricsCollector)state!).OnMeasurement(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>Gets how many durations were recorded for the disk, per op (read, write, discard, flush).</summary>
    public long DurationCount(string op) => Interlocked.Read(ref _durationCounts[Array.IndexOf(s_ops, op)]);

    /// <summary>Gets recordings with an unexpected op tag.</summary>
    public long DurationOther => Interlocked.Read(ref _durationOther);

    /// <summary>Collects the observable instruments and returns their values for this disk or front end, keyed "name{tag=value,...}".</summary>
    public IReadOnlyDictionary<string, double> Collect()
    {
        _observed.Clear();
        _listener.RecordObservableInstruments();
        return new Dictionary<string, double>(_observed, StringComparer.Ordinal);
    }

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        if (!Matches(tags))
        {
            return;
        }

        if (instrument.Name == "blkmq.request.duration")
        {
            string? op = null;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "op")
                {
                    op = tag.Value as string;
                }
            }

            int index = Array.IndexOf(s_ops, op);
            _ = index < 0 ? Interlocked.Increment(ref _durationOther) : Interlocked.Increment(ref _durationCounts[index]);
            return;
        }

        string key = instrument.Name + "{" + string.Join(",", tags.ToArray()
            .Where(t => t.Key != _tagKey)
            .OrderBy(static t => t.Key, StringComparer.Ordinal)
            .Select(static t => t.Key + "=" + t.Value)) + "}";
        _observed[key] = Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == _tagKey && tag.Value is string value && value == _tagValue)
            {
                return true;
            }
        }

        return false;
    }
}
