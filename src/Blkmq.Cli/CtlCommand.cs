using System.CommandLine;
using System.Net.Sockets;
using System.Text;
using Blkmq.Drivers.Null.Control;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq ctl</c>: sends one command to a running <c>blkmq serve --control PATH</c> and prints its reply, <c>ok ...</c>
/// on stdout (exit 0) or <c>error ...</c> on stderr (exit 1). See <see cref="ControlProtocol"/> for the commands.
/// </summary>
internal sealed class CtlCommand : Command
{
    private readonly Option<string> _control = new("--control")
    {
        Description = "The control socket of a running 'blkmq serve --control PATH'.",
        HelpName = "path",
        Required = true,
    };

    private readonly Argument<string[]> _command = new("command")
    {
        Description = "The command and its arguments: " + ControlProtocol.Usage + " | " + IostatReply.Usage + " | " + FilterControl.Usage + ", help.",
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>How long <see cref="SendAsync"/> waits for the server's reply line (as in <see cref="DescribeConnectFailure"/>'s text).</summary>
    private static readonly TimeSpan s_replyTimeout = TimeSpan.FromSeconds(60);

    public CtlCommand()
        : base("ctl", "Change a running 'blkmq serve' (null_blk's configfs): power, bad blocks, power cut, stats; filters: log-writes marks, filter stats.")
    {
        Options.Add(_control);
        ArgumentParsers.RefuseUnknownOptions(_command);
        Arguments.Add(_command);
        SetAction(Run);
    }

    /// <summary>Says in one line why the control socket at <paramref name="path"/> could not be reached.</summary>
    /// <param name="path">The socket's path.</param>
    /// <param name="ex">What connecting or talking threw.</param>
    /// <returns>The message, starting with the path.</returns>
    internal static string DescribeConnectFailure(string path, Exception ex) => ex switch
    {
        // Connecting to a path that does not exist fails with EADDRNOTAVAIL on Linux ("Cannot assign requested address").
        SocketException when !Path.Exists(path) => $"{path}: no such control socket (is 'blkmq serve --control {path}' running?)",
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => $"{path}: nothing listens on it (its server stopped, or it is not a socket)",

        // SendAsync's timeout: something listens there but never answers a line (not a blkmq control socket, or a hung server).
        OperationCanceledException => $"{path}: no reply within 60 s (is it the socket of 'blkmq serve --control PATH'?)",

        // ArgumentException: a path longer than a Unix socket address holds (108 bytes).
        _ => $"{path}: {ex.Message.Split('\n')[0]}",
    };

    private int Run(ParseResult parseResult)
    {
        string path = parseResult.GetRequiredValue(_control);
        string[] words = parseResult.GetRequiredValue(_command);
        if (Array.FindIndex(words, string.IsNullOrWhiteSpace) is int empty and >= 0)
        {
            // The line goes as words between spaces: an empty one would vanish and shift the others (mark EXPORT '' would
            // name the mark after the export).
            Console.Error.WriteLine($"blkmq ctl: argument {empty + 1} of '{string.Join(' ', words)}' is empty; give a value.");
            return Program.ExitBadArguments;
        }

        string line = string.Join(' ', words);
        string? reply;
        try
        {
            reply = SendAsync(path, line).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or ArgumentException)
        {
            Console.Error.WriteLine($"blkmq ctl: {DescribeConnectFailure(path, ex)}");
            return Program.ExitIOError;
        }

        if (reply is null)
        {
            Console.Error.WriteLine($"blkmq ctl: {path}: the server closed the connection without a reply.");
            return Program.ExitIOError;
        }

        if (reply.StartsWith("ok", StringComparison.Ordinal))
        {
            Console.Out.WriteLine(reply);
            return 0;
        }

        Console.Error.WriteLine(reply);
        return Program.ExitIOError;
    }

    internal static async Task<string?> SendAsync(string path, string line)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = new CancellationTokenSource(s_replyTimeout);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.GetFullPath(path)), timeout.Token).ConfigureAwait(false);
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        await stream.WriteAsync(utf8.GetBytes(line.ReplaceLineEndings(" ") + "\n"), timeout.Token).ConfigureAwait(false);
        socket.Shutdown(SocketShutdown.Send);
        using var reader = new StreamReader(stream, utf8, detectEncodingFromByteOrderMarks: false);
        string? reply = await reader.ReadLineAsync(timeout.Token).ConfigureAwait(false);

        // An NBD server greets first with its magic: the user gave the --listen socket, not the --control one.
        return reply is not null && reply.StartsWith("NBDMAGIC", StringComparison.Ordinal)
            ? throw new IOException("an NBD socket (blkmq serve --listen unix:PATH), not a control socket (blkmq serve --control PATH)")
            : reply;
    }
}
