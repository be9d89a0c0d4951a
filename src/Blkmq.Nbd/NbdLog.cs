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

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Connection {Connection} asked for unknown export '{Export}'")]
    public static partial void UnknownExport(ILogger logger, long connection, string export);

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
