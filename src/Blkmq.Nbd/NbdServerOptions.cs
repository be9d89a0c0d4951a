using System.Net;
using Microsoft.Extensions.Logging;

namespace Blkmq.Nbd;

/// <summary>What an <see cref="NbdServer"/> serves, where it listens and how much it lets one client hold.</summary>
public sealed record NbdServerOptions
{
    /// <summary>The default TCP port of NBD (IANA).</summary>
    public const int DefaultPort = 10809;

    /// <summary>Gets the exports; the first is also the default export (the empty name).</summary>
    public IReadOnlyList<NbdExport> Exports { get; init; } = [];

    /// <summary>
    /// Gets the endpoints to listen on: <see cref="IPEndPoint"/> (port 0 picks a free port) or
    /// <see cref="System.Net.Sockets.UnixDomainSocketEndPoint"/>. Default 127.0.0.1:10809.
    /// </summary>
    public IReadOnlyList<EndPoint> Listeners { get; init; } = [new IPEndPoint(IPAddress.Loopback, DefaultPort)];

    /// <summary>Gets how TLS is offered. Default <see cref="NbdTlsMode.Off"/>.</summary>
    public NbdTlsMode TlsMode { get; init; }

    /// <summary>Gets the PEM file with the server's X.509 certificate (chain); required unless TLS is off.</summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>Gets the PEM file with the certificate's private key; null when it is in <see cref="TlsCertificateFile"/>.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>Gets the most connections open at once; further clients are closed at accept. Default 1024.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>Gets the most requests one connection may have between receipt and sent reply. Default 256.</summary>
    public int MaxInFlightPerConnection { get; init; } = 256;

    /// <summary>
    /// Gets the most payload bytes (write data and read replies) one connection may hold in buffers; the server stops
    /// reading that connection's requests until replies drain. Default 64 MiB; one request is always admitted.
    /// </summary>
    public long MaxBufferedBytesPerConnection { get; init; } = 64L << 20;

    /// <summary>Gets how long a client may take from connect to the end of option haggling. Default 30 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets how long a connection's reader polls its socket before it blocks for the next request (the idea of Linux's
    /// <c>net.core.busy_read</c>, in userspace): a client at queue depth 1 usually sends its next request within tens
    /// of microseconds, and a blocked reader on an idle CPU of a virtual machine takes about as long to be woken.
    /// Readers poll only while every connection can have a CPU of its own next to its client (transmitting
    /// connections × 2 ≤ processors), so polling never takes a CPU that the server or its clients need.
    /// Default 50 µs; <see cref="TimeSpan.Zero"/> turns polling off.
    /// </summary>
    public TimeSpan BusyPoll { get; init; } = TimeSpan.FromMicroseconds(50);

    /// <summary>Gets the logger factory; null for none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    public void Validate()
    {
        if (Exports is null || Exports.Count == 0)
        {
            Fail(nameof(Exports), "The server needs at least one export.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (NbdExport export in Exports)
        {
            if (export?.Disk is null || export.Name is null)
            {
                Fail(nameof(Exports), "An export needs a name and a disk.");
            }

            if (System.Text.Encoding.UTF8.GetByteCount(export.Name) > NbdProtocol.MaxStringLength || export.Name.Contains('\0', StringComparison.Ordinal))
            {
                Fail(nameof(Exports), $"Export name '{export.Name}' is longer than 4096 bytes or contains NUL.");
            }

            if (!names.Add(export.Name))
            {
                Fail(nameof(Exports), $"Export name '{export.Name}' is used twice.");
            }
        }

        ValidateSettings();
    }

    /// <summary>
    /// Checks every option but <see cref="Exports"/> and throws an <see cref="ArgumentException"/> naming the first wrong
    /// one: a host checks its command line with it before it creates the disks to export.
    /// </summary>
    public void ValidateSettings()
    {
        if (Listeners is null || Listeners.Count == 0)
        {
            Fail(nameof(Listeners), "The server needs at least one listener.");
        }

        if (TlsMode != NbdTlsMode.Off && string.IsNullOrEmpty(TlsCertificateFile))
        {
            Fail(nameof(TlsCertificateFile), "TLS needs a certificate file.");
        }

        if (MaxConnections < 1)
        {
            Fail(nameof(MaxConnections), "At least one connection.");
        }

        if (MaxInFlightPerConnection is < 1 or > 65536)
        {
            Fail(nameof(MaxInFlightPerConnection), "1 to 65536 requests.");
        }

        if (MaxBufferedBytesPerConnection < NbdProtocol.MaxPayload)
        {
            Fail(nameof(MaxBufferedBytesPerConnection), "At least the maximum payload (32 MiB).");
        }

        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            Fail(nameof(HandshakeTimeout), "Must be positive.");
        }

        if (BusyPoll < TimeSpan.Zero || BusyPoll > TimeSpan.FromMilliseconds(10))
        {
            Fail(nameof(BusyPoll), "Between 0 and 10 ms.");
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string paramName, string message) => throw new ArgumentException(message, paramName);
}
