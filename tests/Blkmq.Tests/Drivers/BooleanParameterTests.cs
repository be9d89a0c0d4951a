using Blkmq.Drivers.File;
using Blkmq.Drivers.Null;
using Blkmq.Drivers.Rbd;
using Blkmq.Filters;

namespace Blkmq.Tests.Drivers;

/// <summary>
/// Every driver's and filter's on/off parameters read the same words through <see cref="BooleanParser"/>: the file and
/// rbd drivers took only 1/0, true/false and on/off, in lower case; a wrong value names the key and what it takes.
/// </summary>
public sealed class BooleanParameterTests
{
    public static TheoryData<string, bool> Words => new()
    {
        { "1", true },
        { "Yes", true },
        { "TRUE", true },
        { "On", true },
        { "0", false },
        { "no", false },
        { "False", false },
        { "OFF", false },
    };

    [Theory]
    [MemberData(nameof(Words))]
    public void File_ReadOnly_TakesEveryWord(string word, bool expected)
    {
        Assert.Equal(expected, FileDriverOptions.Parse($"path=x,readonly={word}").ReadOnly);
        Assert.Equal(expected, FileDriverOptions.Parse($"path=x,ro={word}").ReadOnly);
        Assert.Equal(expected ? DirectIoMode.On : DirectIoMode.Off, FileDriverOptions.Parse($"path=x,direct={word}").Direct);
        Assert.Equal(expected ? FileInlineMode.Always : FileInlineMode.Off, FileDriverOptions.Parse($"path=x,inline={word}").InlineMode);
    }

    [Theory]
    [MemberData(nameof(Words))]
    public void Rbd_ReadOnlyAndExclusive_TakeEveryWord(string word, bool expected)
    {
        RbdDriverOptions options = RbdDriverOptions.Parse($"pool=p,image=i,readonly={word},exclusive={word}");
        Assert.Equal((expected, expected), (options.ReadOnly, options.Exclusive));
    }

    [Theory]
    [MemberData(nameof(Words))]
    public void Null_Flags_TakeEveryWord(string word, bool expected)
    {
        NullBlockOptions options = NullBlockOptions.Parse($"memory_backed={word},discard={word}");
        Assert.Equal((expected, expected), (options.MemoryBacked, options.Discard));
    }

    [Theory]
    [MemberData(nameof(Words))]
    public void Filter_GetBool_TakesEveryWord(string word, bool expected)
    {
        Assert.True(FilterRegistry.Default.TryGet("cow", out FilterDescriptor? cow));
        Assert.Equal(expected, FilterArguments.Parse(cow, $"keep={word}").GetBool("keep", !expected));
    }

    [Theory]
    [InlineData("file", "path=x,readonly=maybe", "file: readonly=maybe")]
    [InlineData("file", "path=x,ro=2", "file: ro=2")]
    [InlineData("rbd", "pool=p,image=i,exclusive=sometimes", "rbd: exclusive=sometimes")]
    [InlineData("null", "memory_backed=maybe", "memory_backed=maybe")]
    [InlineData("cow", "keep=maybe", "filter 'cow': keep=maybe")]
    public void WrongValue_OneLineNamingTheKeyAndTheAcceptedValues(string owner, string text, string start)
    {
        FormatException error = Assert.Throws<FormatException>(() => Parse(owner, text));
        Assert.Equal(start + " is not a boolean (1/0, yes/no, true/false or on/off).", error.Message);
    }

    private static void Parse(string owner, string text)
    {
        switch (owner)
        {
            case "file":
                _ = FileDriverOptions.Parse(text);
                break;
            case "rbd":
                _ = RbdDriverOptions.Parse(text);
                break;
            case "null":
                _ = NullBlockOptions.Parse(text);
                break;
            default:
                Assert.True(FilterRegistry.Default.TryGet(owner, out FilterDescriptor? filter));
                _ = FilterArguments.Parse(filter, text).GetBool("keep", false);
                break;
        }
    }
}
