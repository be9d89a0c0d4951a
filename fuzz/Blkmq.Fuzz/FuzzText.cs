using System.Text;

namespace Blkmq.Fuzz;

/// <summary>Turns fuzz input into the text a command line could carry.</summary>
internal static class FuzzText
{
    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <summary>Decodes UTF-8 (bad sequences become U+FFFD) up to the first NUL, which no argument can hold.</summary>
    public static string Argument(ReadOnlySpan<byte> input)
    {
        int nul = input.IndexOf((byte)0);
        return s_utf8.GetString(nul < 0 ? input : input[..nul]);
    }
}
