namespace Blkmq.Tests;

/// <summary>The one boolean parser (<see cref="BooleanParser"/>): 1/0, yes/no, true/false, on/off in any case; anything else named.</summary>
public sealed class BooleanParserTests
{
    [Theory]
    [InlineData("1", true)]
    [InlineData("yes", true)]
    [InlineData("YES", true)]
    [InlineData("y", true)]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("on", true)]
    [InlineData("ON", true)]
    [InlineData(" on ", true)]
    [InlineData("0", false)]
    [InlineData("no", false)]
    [InlineData("No", false)]
    [InlineData("N", false)]
    [InlineData("false", false)]
    [InlineData("FALSE", false)]
    [InlineData("off", false)]
    [InlineData("Off", false)]
    public void Parse_EveryAcceptedWord_AnyCase(string text, bool expected)
    {
        Assert.Equal(expected, BooleanParser.Parse(text, "key"));
        Assert.True(BooleanParser.TryParse(text, out bool parsed));
        Assert.Equal(expected, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("2")]
    [InlineData("-1")]
    [InlineData("maybe")]
    [InlineData("tru")]
    [InlineData("yess")]
    [InlineData("o")]
    [InlineData("1 0")]
    public void Parse_AnythingElse_OneLineNamingTheKeyAndTheAcceptedValues(string text)
    {
        Assert.False(BooleanParser.TryParse(text, out bool parsed));
        Assert.False(parsed);
        FormatException error = Assert.Throws<FormatException>(() => BooleanParser.Parse(text, "file: readonly"));
        Assert.Equal($"file: readonly={text} is not a boolean (1/0, yes/no, true/false or on/off).", error.Message);
    }
}
