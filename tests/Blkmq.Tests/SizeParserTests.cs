using CsCheck;

namespace Blkmq.Tests;

/// <summary>The one size parser (<see cref="SizeParser"/>): suffixes, units, overflow refused, bad input refused.</summary>
public sealed class SizeParserTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("4096", 4096L)]
    [InlineData("4k", 4096L)]
    [InlineData("4K", 4096L)]
    [InlineData("4KB", 4096L)]
    [InlineData("4kib", 4096L)]
    [InlineData("4KiB", 4096L)]
    [InlineData("512M", 512L << 20)]
    [InlineData("1G", 1L << 30)]
    [InlineData("1g", 1L << 30)]
    [InlineData("2T", 2L << 40)]
    [InlineData("3P", 3L << 50)]
    [InlineData("7E", 7L << 60)]
    [InlineData("512B", 512L)]
    [InlineData(" 1G ", 1L << 30)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("8388607T", 8388607L << 40)]
    public void Parse_Suffixes_ArePowersOf1024(string text, long expected)
    {
        Assert.Equal(expected, SizeParser.Parse(text));
        Assert.True(SizeParser.TryParse(text, out long parsed));
        Assert.Equal(expected, parsed);
    }

    [Theory]
    [InlineData("3", 1L << 20, 3L << 20)] // a bare number counts the unit (null_blk's MiB parameters)
    [InlineData("3M", 1L << 20, 3L << 20)]
    [InlineData("3K", 1L << 20, 3L << 10)] // a suffix says what it means
    [InlineData("512B", 1L << 20, 512L)] // and so does B
    [InlineData("2", 1L << 30, 2L << 30)]
    public void Parse_BareNumber_CountsTheUnit(string text, long unit, long expected) =>
        Assert.Equal(expected, SizeParser.Parse(text, unit: unit));

    [Theory]
    [InlineData("16777217T")] // 2^64 + 1 TiB: a shift would wrap it to 1 TiB
    [InlineData("8E")]
    [InlineData("17179869185G")]
    [InlineData("9223372036854775808")] // long.MaxValue + 1
    [InlineData("99999999999999999999999")]
    [InlineData("8796093022208T")]
    public void Parse_TooLarge_OverflowException_NeverWraps(string text)
    {
        OverflowException error = Assert.Throws<OverflowException>(() => SizeParser.Parse(text, "size"));
        Assert.Equal($"size: '{text}' is too large.", error.Message);
        Assert.False(SizeParser.TryParse(text, out long parsed));
        Assert.Equal(0, parsed);
    }

    [Fact]
    public void Parse_TooLargeForTheUnit_OverflowException() =>
        Assert.Throws<OverflowException>(() => SizeParser.Parse("17592186044417", unit: 1L << 20));

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("lots")]
    [InlineData("K")]
    [InlineData("KiB")]
    [InlineData("B")]
    [InlineData("-1")]
    [InlineData("+1")]
    [InlineData("1.5G")]
    [InlineData("1 G")]
    [InlineData("4x")]
    [InlineData("4iB")]
    [InlineData("4GG")]
    [InlineData("0x10")]
    [InlineData("1e3")]
    [InlineData("99999999999999999999x")] // bad input, not a large size
    public void Parse_BadInput_FormatException_NamingIt(string text)
    {
        FormatException error = Assert.Throws<FormatException>(() => SizeParser.Parse(text, "--bs"));
        Assert.StartsWith($"--bs: '{text}' is not a size", error.Message, StringComparison.Ordinal);
        Assert.False(SizeParser.TryParse(text, out _));
    }

    [Fact]
    public void Parse_NoName_MessageStartsWithTheText() =>
        Assert.StartsWith("'lots' is not a size", Assert.Throws<FormatException>(() => SizeParser.Parse("lots")).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Parse_UnitNotPositive_ArgumentOutOfRange(long unit) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SizeParser.Parse("1", unit: unit));

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(1000L, "1000")]
    [InlineData(4096L, "4K")]
    [InlineData(1L << 30, "1G")]
    [InlineData(3L << 40, "3T")]
    [InlineData((1L << 30) + 512, "1073742336")]
    public void Format_LargestWholeSuffix(long bytes, string expected) =>
        Assert.Equal(expected, SizeParser.Format(bytes));

    [Fact]
    public void FormatThenParse_RoundTrips() =>
        Gen.Long[0, long.MaxValue].Sample(static bytes => SizeParser.Parse(SizeParser.Format(bytes)) == bytes);

    [Fact]
    public void NumberTimesSuffix_ParsedExactly_OrRefusedAsTooLarge() =>
        Gen.Select(Gen.Long[0, long.MaxValue], Gen.Int[0, 6]).Sample(static (number, index) =>
        {
            int shift = index * 10;
            string text = number.ToString(System.Globalization.CultureInfo.InvariantCulture) + " KMGTPE"[index].ToString().Trim();
            bool fits = number <= long.MaxValue >> shift;
            return fits
                ? SizeParser.TryParse(text, out long parsed) && parsed == number << shift
                : !SizeParser.TryParse(text, out _) && Throws<OverflowException>(() => SizeParser.Parse(text));
        });

    private static bool Throws<TException>(Action action)
        where TException : Exception
    {
        try
        {
            action();
            return false;
        }
        catch (TException)
        {
            return true;
        }
    }
}
