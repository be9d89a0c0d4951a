namespace Blkmq.Cli;

/// <summary>How a benchmark reports, as fio's <c>--output-format</c>.</summary>
internal enum OutputFormat
{
    /// <summary>Tables for a person, with live progress on an interactive terminal.</summary>
    Normal,

    /// <summary>One JSON document on standard output.</summary>
    Json,

    /// <summary>One line of semicolon-separated fields.</summary>
    Terse,
}
