using Microsoft.Extensions.Logging;

namespace Blkmq.Nbd;

/// <summary>The NBD server's log messages: connection and protocol events only, never one per IO.</summary>
internal static partial class NbdLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "NBD server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, System.Net.EndPoint endPoint);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "NBD server stopping; {Connections} connections open")]
    public static partial void Stopping(ILogger logger, int connections);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "NBD server stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "Connection {Connection} accepted from {Remote}")]
    public static partial void ConnectionAccepted(ILogger logger, long connection, System.Net.EndPoint? remote);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Connection from {Remote} refused: {Max} connections already open")]
    public static partial void ConnectionRefused(ILogger logger, System.Net.EndPoint? remote, int max);

    /// <summary>Information for a connection that served an export (its start was logged), debug for one that only negotiated.</summary>
    [LoggerMessage(EventId = 6, Message = "Connection {Connection} closed: {Reason}")]
    public static partial void ConnectionClosed(ILogger logger, LogLevel level, long connection, string reason);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Connection {Connection} dropped, protocol violation: {Violation}")]
    public static partial void ProtocolViolation(ILogger logger, long connection, string violation);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "Connection {Connection} lost during {Phase}")]
    public static partial void ClientGone(ILogger logger, long connection, string phase);

    [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "Connection {Connection} serving export '{Export}' (structured replies {Structured}, extended headers {Extended}, TLS {Tls})")]
    public static partial void TransmissionStarted(ILogger logger, long connection, string export, bool structured, bool extended, bool tls);

    /// <summary>
    /// Makes a string a client sent fit for a log line: control characters (an escape sequence for the operator's
    /// terminal, a NUL, a newline that would forge a log line) become <c>\xNN</c> or <c>\uNNNN</c>, and at most
    /// 200 characters are kept.
    /// </summary>
    /// <param name="text">The client's text.</param>
    /// <returns>The text as it may be logged.</returns>
    public static string Printable(string text)
    {
        const int MaxLength = 200;
        bool clean = text.Length <= MaxLength;
        foreach (char c in text)
        {
            clean &= !char.IsControl(c) && c is not ('\u2028' or '\u2029');
        }

        if (clean)
        {
            return text;
        }

        var printable = new System.Text.StringBuilder();
        foreach (char c in text.AsSpan(0, Math.Min(text.Length, MaxLength)))
        {
            if (c < 0x100 && char.IsControl(c))
            {
                printable.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else if (char.IsControl(c) || c is '\u2028' or '\u2029')
            {
                printable.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                printable.Append(c);
            }
        }

        if (text.Length > MaxLength)
        {
            printable.Append(System.Globalization.CultureInfo.InvariantCulture, $"... ({text.Length} characters)");
        }

        return printable.ToString();
    }

    /// <summary>Logs a client's request for an export that does not exist; the name is the client's, made <see cref="Printable"/>.</summary>
    public static void UnknownExport(ILogger logger, long connection, string export)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
#pragma warning disable CA1873 // Guarded by the IsEnabled check just above.
            UnknownExportCore(logger, connection, Printable(export));
#pragma warning restore CA1873
        }
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Connection {Connection} asked for unknown export '{Export}'")]
    private static partial void UnknownExportCore(ILogger logger, long connection, string export);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Connection {Connection}: TLS handshake failed")]
    public static partial void TlsHandshakeFailed(ILogger logger, Exception exception, long connection);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "Connection {Connection} failed")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, long connection);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "Connection {Connection} dropped: option {Option} carries {Length} bytes, more than the limit of {Limit}")]
    public static partial void OptionTooLong(ILogger logger, long connection, uint option, uint length, int limit);

    [LoggerMessage(EventId = 14, Level = LogLevel.Warning, Message = "Connection {Connection} dropped: handshake not finished within {Timeout}")]
    public static partial void HandshakeTimedOut(ILogger logger, long connection, TimeSpan timeout);

    [LoggerMessage(EventId = 15, Level = LogLevel.Error, Message = "Accepting on {EndPoint} failed; the listener stops")]
    public static partial void AcceptFailed(ILogger logger, Exception exception, System.Net.EndPoint endPoint);

    [LoggerMessage(EventId = 16, Level = LogLevel.Warning, Message = "NBD server stop: {Connections} connections did not finish in time and were aborted")]
    public static partial void StopAborted(ILogger logger, int connections);

    [LoggerMessage(EventId = 17, Level = LogLevel.Warning, Message = "Connection {Connection}: write payload of {Length} bytes is too large to skip; dropped")]
    public static partial void PayloadTooLarge(ILogger logger, long connection, long length);

    [LoggerMessage(EventId = 18, Level = LogLevel.Information, Message = "Connection {Connection}: TLS established ({Protocol})")]
    public static partial void TlsEstablished(ILogger logger, long connection, System.Security.Authentication.SslProtocols protocol);
}
