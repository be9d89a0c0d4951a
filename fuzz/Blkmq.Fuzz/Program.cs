using System.CommandLine;
using SharpFuzz;

namespace Blkmq.Fuzz;

/// <summary>
/// <c>Blkmq.Fuzz TARGET</c> runs one harness on inputs from standard input, in afl-fuzz's persistent mode when started
/// by afl-fuzz (scripts/fuzz.sh); <c>Blkmq.Fuzz TARGET FILE...</c> replays files (corpus entries, saved crashes) and
/// says which found a bug.
/// </summary>
internal static class Program
{
    private const int ExitFinding = 1;
    private const int ExitUsage = 2;

    public static int Main(string[] args)
    {
        var target = new Argument<string>("target")
        {
            Description = "The harness: " + string.Join(", ", FuzzTargets.Names) + ".",
        };
        var files = new Argument<FileInfo[]>("files")
        {
            Description = "Inputs to replay in-process; without any, inputs come from standard input (afl-fuzz).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var root = new RootCommand("Fuzzing harnesses for Blkmq's parsers (see docs/fuzzing.md).") { target, files };
        root.SetAction(parseResult =>
        {
            string name = parseResult.GetValue(target)!;
            if (!FuzzTargets.Names.Contains(name))
            {
                Console.Error.WriteLine($"Blkmq.Fuzz: unknown target '{name}' (known: {string.Join(", ", FuzzTargets.Names)}).");
                return ExitUsage;
            }

            FileInfo[] inputs = parseResult.GetValue(files) ?? [];
            return inputs.Length == 0 ? Fuzz(name) : Replay(FuzzTargets.Create(name)!, inputs);
        });
        return root.Parse(args).Invoke();
    }

    private static int Fuzz(string name)
    {
        var buffer = new MemoryStream();
        IFuzzTarget? harness = null;
        Fuzzer.Run(stream =>
        {
            // Made inside the first run: instrumented code records coverage into afl's shared memory, which exists
            // only from here on (before, it would write through a null pointer).
            harness ??= FuzzTargets.Create(name)!;
            buffer.SetLength(0);
            stream.CopyTo(buffer);
            harness.Run(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        });

        // Only reached without afl-fuzz (one input from standard input): afl-fuzz kills the process instead.
        (harness as IDisposable)?.Dispose();
        return 0;
    }

    private static int Replay(IFuzzTarget harness, FileInfo[] inputs)
    {
        int findings = 0;
        foreach (FileInfo input in inputs)
        {
            try
            {
                harness.Run(File.ReadAllBytes(input.FullName));
                Console.WriteLine($"ok      {input.FullName}");
            }
#pragma warning disable CA1031 // Every exception a harness lets out is a finding to report, whatever its type.
            catch (Exception e)
#pragma warning restore CA1031
            {
                findings++;
                Console.WriteLine($"FINDING {input.FullName}: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
            }
        }

        (harness as IDisposable)?.Dispose();
        return findings == 0 ? 0 : ExitFinding;
    }
}
