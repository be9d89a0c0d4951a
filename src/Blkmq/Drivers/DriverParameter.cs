namespace Blkmq.Drivers;

/// <summary>One parameter a driver accepts in its <c>key=value,...</c> text, as <c>blkmq drivers</c> lists it.</summary>
/// <param name="Name">The key, as written in the text (for example <c>irqmode</c>).</param>
/// <param name="Description">What the parameter does, in one line.</param>
/// <param name="DefaultValue">The value the driver uses when the text leaves the parameter out, as text (empty for none).</param>
public sealed record DriverParameter(string Name, string Description, string DefaultValue);
