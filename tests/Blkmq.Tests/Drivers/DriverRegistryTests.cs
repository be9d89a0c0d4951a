using Blkmq.Drivers;

namespace Blkmq.Tests.Drivers;

/// <summary>The driver registry: drivers by name, specifications split, clear errors for unknown and duplicate names.</summary>
public sealed class DriverRegistryTests
{
    [Fact]
    public void Get_UnknownName_FormatException_ListingKnownNames()
    {
        DriverRegistry registry = Registry("beta", "alpha");
        FormatException error = Assert.Throws<FormatException>(() => registry.Get("floppy"));
        Assert.Equal("unknown driver 'floppy' (known: alpha, beta; see 'blkmq drivers').", error.Message);
        Assert.False(registry.TryGet("floppy", out _));
    }

    [Fact]
    public void Drivers_SortedByName()
    {
        DriverRegistry registry = Registry("gamma", "alpha", "beta");
        Assert.Equal(["alpha", "beta", "gamma"], registry.Drivers.Select(static d => d.Name));
        Assert.Equal("alpha, beta, gamma", registry.KnownNames);
    }

    [Fact]
    public void TryGet_IgnoresCaseAndBlanks()
    {
        DriverRegistry registry = Registry("alpha");
        Assert.True(registry.TryGet(" Alpha ", out DriverDescriptor? driver));
        Assert.Equal("alpha", driver.Name);
    }

    [Fact]
    public void Add_SameNameTwice_ArgumentException()
    {
        DriverRegistry registry = Registry("alpha");
        Assert.Throws<ArgumentException>(() => registry.Add(Descriptor("alpha", static (_, _) => throw new InvalidOperationException())));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("with space")]
    [InlineData("colon:")]
    public void Descriptor_BadName_ArgumentException(string name) =>
        Assert.ThrowsAny<ArgumentException>(() => Descriptor(name, static (_, _) => throw new InvalidOperationException()));

    [Theory]
    [InlineData("memory", "memory", "")]
    [InlineData("memory:size=1G", "memory", "size=1G")]
    [InlineData(" null :irqmode=0,bs=4096", "null", "irqmode=0,bs=4096")]
    [InlineData("x:a=b:c", "x", "a=b:c")]
    public void SplitSpecification_NameThenParameters(string specification, string name, string parameters) =>
        Assert.Equal((name, parameters), DriverRegistry.SplitSpecification(specification));

    [Fact]
    public void Create_PassesParametersAndOptionsToTheFactory()
    {
        string? seenParameters = null;
        DriverCreateOptions? seenOptions = null;
        var registry = new DriverRegistry();
        registry.Add(Descriptor("alpha", (parameters, options) =>
        {
            seenParameters = parameters;
            seenOptions = options;
            throw new FormatException("stop here");
        }));
        var given = new DriverCreateOptions { DiskName = "disk", DefaultSize = 4096 };
        Assert.Throws<FormatException>(() => registry.Create("ALPHA:k=v", given));
        Assert.Equal("k=v", seenParameters);
        Assert.Same(given, seenOptions);
    }

    [Theory]
    [InlineData("size=1G", true, "size=1G,readonly=1")]
    [InlineData("", true, "readonly=1")]
    [InlineData("readonly=0", true, "readonly=0,readonly=1")]
    [InlineData("size=1G", false, "size=1G")]
    public void Create_ReadOnlyHost_GivesADriverWithReadonlyThatParameterLast(string text, bool readOnly, string expected)
    {
        string? seen = null;
        var driver = new DriverDescriptor("alpha", "a test driver", [new DriverParameter("size", "Capacity.", "1G"), new DriverParameter("readonly", "Read-only.", "0")], (parameters, _) =>
        {
            seen = parameters;
            throw new FormatException("stop here");
        });
        Assert.Throws<FormatException>(() => driver.Create(text, new DriverCreateOptions { ReadOnly = readOnly }));
        Assert.Equal(expected, seen);
    }

    [Fact]
    public void Create_ReadOnlyHost_DriverWithoutReadonly_TextUnchanged()
    {
        string? seen = null;
        DriverDescriptor driver = Descriptor("alpha", (parameters, _) =>
        {
            seen = parameters;
            throw new FormatException("stop here");
        });
        Assert.Throws<FormatException>(() => driver.Create("size=1G", new DriverCreateOptions { ReadOnly = true }));
        Assert.Equal("size=1G", seen);
    }

    [Fact]
    public void HasParameter_OnlyListedOnes()
    {
        DriverDescriptor driver = Descriptor("alpha", static (_, _) => throw new InvalidOperationException());
        Assert.True(driver.HasParameter("size"));
        Assert.False(driver.HasParameter("irqmode"));
    }

    [Fact]
    public async Task Instance_DisposeAsync_DisposesTheOwnerOnce()
    {
        var owner = new CountingOwner();
        var instance = new DriverInstance { DriverName = "alpha", Disks = [], Owner = owner };
        await instance.DisposeAsync();
        await instance.DisposeAsync();
        Assert.Equal(1, owner.Disposals);
    }

    private static DriverRegistry Registry(params string[] names)
    {
        var registry = new DriverRegistry();
        foreach (string name in names)
        {
            registry.Add(Descriptor(name, static (_, _) => throw new InvalidOperationException()));
        }

        return registry;
    }

    private static DriverDescriptor Descriptor(string name, Func<string, DriverCreateOptions, DriverInstance> create) =>
        new(name, "a test driver", [new DriverParameter("size", "Capacity.", "1G")], create);

    private sealed class CountingOwner : IAsyncDisposable
    {
        public int Disposals { get; private set; }

        public ValueTask DisposeAsync()
        {
            Disposals++;
            return ValueTask.CompletedTask;
        }
    }
}
