namespace Blkmq.Cli;

/// <summary>One export of <c>blkmq serve</c>'s command line, checked but not created yet.</summary>
/// <param name="Name">The export name.</param>
/// <param name="Text">What the user typed for it, for messages (<c>--export '...'</c> or the file).</param>
/// <param name="Stack">The driver and its filters, <c>DRIVER[:params][|FILTER[:params]...]</c>; <see langword="null"/> for an image.</param>
/// <param name="ImagePath">The file of <c>blkmq serve FILE</c>, given to the file driver as it is; <see langword="null"/> for a stack.</param>
internal sealed record ExportSpec(string Name, string Text, string? Stack, string? ImagePath);
