using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Blkmq.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Blkmq.Cli;

/// <summary>
/// The Blkmq meter (<see cref="BlkmqMeter"/>) in Prometheus' text format at <c>http://ADDRESS/metrics</c>, through
/// OpenTelemetry's Prometheus exporter on an <see cref="HttpListener"/> (<c>serve --metrics</c>, <c>bench --metrics</c>).
/// Counters are cumulative; the latency histogram is recorded while this endpoint exists, for a sample of IOs or for
/// every one (<see cref="CreateLatencyOption"/>).
/// </summary>
internal sealed class MetricsEndpoint : IDisposable
{
    private readonly MeterProvider _provider;

    private MetricsEndpoint(MeterProvider provider, Uri uri)
    {
        _provider = provider;
        Uri = uri;
    }

    /// <summary>Gets the scrape address, <c>http://HOST:PORT/metrics</c>.</summary>
    public Uri Uri { get; }

    /// <summary>Makes the <c>--metrics-latency sampled|every</c> option of <c>serve</c> and <c>bench</c>.</summary>
    public static System.CommandLine.Option<string> CreateLatencyOption()
    {
        var option = new System.CommandLine.Option<string>("--metrics-latency")
        {
            Description = "Which IOs the latency histogram (blkmq.request.duration) records with --metrics: 'sampled', per disk the first IO of each "
                + "tick of the coarse clock (1-4 ms), nothing measurable per IO; or 'every' IO, about 1-2 us of CPU each. Counters count every IO either way.",
            HelpName = "sampled|every",
            DefaultValueFactory = static _ => "sampled",
        };
        option.AcceptOnlyFromAmong("sampled", "every");
        return option;
    }

    /// <summary>Sets <see cref="BlkmqMeter.LatencySampling"/> from the option; call before any disk is made.</summary>
    public static void ApplyLatencyOption(System.CommandLine.ParseResult parseResult, System.CommandLine.Option<string> option) =>
        BlkmqMeter.LatencySampling = parseResult.GetValue(option) == "every" ? LatencySampling.Every : LatencySampling.Sampled;

    /// <summary>Parses <c>HOST:PORT</c> (an IPv4 address, <c>[IPv6]</c> or <c>localhost</c>; port 0 picks a free one).</summary>
    /// <exception cref="FormatException">The text is not such an address.</exception>
    public static IPEndPoint ParseAddress(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon > 0
            && string.Equals(text[..colon], "localhost", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port)
            && port <= IPEndPoint.MaxPort)
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        if (text.Contains(':', StringComparison.Ordinal) && IPEndPoint.TryParse(text, out IPEndPoint? endPoint) && (text.Contains("]:", StringComparison.Ordinal) || endPoint.AddressFamily == AddressFamily.InterNetwork))
        {
            return endPoint;
        }

        throw new FormatException($"--metrics '{text}': expected HOST:PORT, as 127.0.0.1:9464 or [::1]:9464.");
    }

    /// <summary>Starts serving the meter at <paramref name="address"/>.</summary>
    /// <exception cref="IOException">The address cannot be listened on (in use, not local).</exception>
    public static MetricsEndpoint Start(IPEndPoint address)
    {
        // HttpListener has no port 0: take a free port from the kernel first (another process could take it in between;
        // then starting fails with a clear error, as for a port in use).
        int port = address.Port == 0 ? FreePort(address.Address) : address.Port;
        string host = address.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + address.Address + "]" : address.Address.ToString();
        string prefix = string.Create(CultureInfo.InvariantCulture, $"http://{host}:{port}/");
        MeterProvider provider;
        try
        {
            provider = Sdk.CreateMeterProviderBuilder()
                .ConfigureResource(static resource => resource.AddService("blkmq"))
                .AddMeter(BlkmqMeter.Name)
                .AddPrometheusHttpListener(options =>
                {
                    options.Host = host;
                    options.Port = port;
                    options.ScrapeEndpointPath = "/metrics";

                    // Every scrape collects afresh: a scraper right after some IO sees it.
                    options.ScrapeResponseCacheDurationMilliseconds = 0;
                })
                .Build();
        }
        catch (Exception ex) when (ex is HttpListenerException or InvalidOperationException or SocketException)
        {
            throw new IOException($"--metrics {host}:{port}: cannot listen: {ex.Message.Split('\n')[0]}", ex);
        }

        return new MetricsEndpoint(provider, new Uri(prefix + "metrics"));
    }

    /// <inheritdoc/>
    public void Dispose() => _provider.Dispose();

    private static int FreePort(IPAddress address)
    {
        using var probe = new TcpListener(address, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}
