using Blkmq.Nbd;

namespace Blkmq.Tests.Nbd;

/// <summary>What a client names reaches the server's log without terminal escapes, NULs or forged lines.</summary>
public sealed class NbdLogTests
{
    [Theory]
    [InlineData("disk", "disk")]
    [InlineData("vm-1 é 🙂", "vm-1 é 🙂")]
    [InlineData("x\u001b[31mred", "x\\x1b[31mred")]
    [InlineData("a\0b", "a\\x00b")]
    [InlineData("one\nINFO forged line", "one\\x0aINFO forged line")]
    [InlineData("c1\u0085c2\u2028", "c1\\x85c2\\u2028")]
    public void Printable_EscapesControlCharacters(string name, string logged)
    {
        Assert.Equal(logged, NbdLog.Printable(name));
    }

    [Fact]
    public void Printable_CutsLongNames()
    {
        string logged = NbdLog.Printable(new string('n', 5000));
        Assert.Equal(new string('n', 200) + "... (5000 characters)", logged);
    }
}
