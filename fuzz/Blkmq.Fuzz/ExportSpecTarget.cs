using Blkmq.Cli;
using Blkmq.Drivers;
using Blkmq.Drivers.File;
using Blkmq.Drivers.Rbd;

namespace Blkmq.Fuzz;

/// <summary>
/// <c>export-spec</c>: the input is the value of <c>blkmq serve --export</c> (<c>NAME=DRIVER[:key=value,...]</c>),
/// checked (<c>ServeCommand.ParseExport</c>), then made into disks by the same code (<c>ServeCommand.CreateExport</c>) and disposed. A bad value must fail with a
/// <see cref="FormatException"/> or an <see cref="ArgumentException"/>. Specifications that reach outside the process
/// are checked but not run: the file and rbd drivers and any parameter naming a file (a filter's <c>file=</c>, a
/// <c>path=</c>, a Ceph <c>conf=</c>) would open, lock or create whatever the fuzzer names, or wait on a cluster.
/// </summary>
internal sealed class ExportSpecTarget : IFuzzTarget
{
    public const string TargetName = "export-spec";

    public string Name => TargetName;

    public void Run(ReadOnlySpan<byte> input)
    {
        string text = FuzzText.Argument(input);

        // Checking creates nothing, whatever the driver: every specification is checked.
        ExportSpec spec;
        try
        {
            spec = ServeCommand.ParseExport(text);
        }
        catch (FormatException e)
        {
            Refused(text, e);
            return;
        }

        if (ReachesOutside(text) || spec.Stack is null ||
            (DriverCatalog.Registry.TryGet(DriverRegistry.SplitSpecification(spec.Stack).Driver, out DriverDescriptor? descriptor) && descriptor.Name is FileDriverProvider.Name or RbdDriverProvider.Name))
        {
            return;
        }

        DriverInstance instance;
        try
        {
            instance = ServeCommand.CreateExport(spec, readOnly: false, loggerFactory: null);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            Refused(text, e);
            return;
        }

        instance.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private static void Refused(string text, Exception e)
    {
        if (string.IsNullOrWhiteSpace(e.Message))
        {
            throw new FuzzFindingException($"'{text}' was refused without a message", e);
        }
    }

    private static bool ReachesOutside(string specification) =>
        specification.Contains("file", StringComparison.OrdinalIgnoreCase) ||
        specification.Contains("rbd", StringComparison.OrdinalIgnoreCase) ||
        specification.Contains("path", StringComparison.OrdinalIgnoreCase) ||
        specification.Contains("conf", StringComparison.OrdinalIgnoreCase);
}
