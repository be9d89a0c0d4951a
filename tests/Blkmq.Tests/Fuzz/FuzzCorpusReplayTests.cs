using Blkmq.Fuzz;

namespace Blkmq.Tests.Fuzz;

/// <summary>
/// Replays every seed of <c>fuzz/corpus/TARGET</c> and every saved finding of <c>fuzz/crashes/TARGET</c> through its
/// harness in-process, as afl-fuzz would run them: a corpus entry or a fixed crash that finds a bug again fails here,
/// on every run of the suite, without afl-fuzz.
/// </summary>
[Collection(FuzzHarnessCollection.Name)]
public sealed class FuzzCorpusReplayTests
{
    public static TheoryData<string> Targets => [.. FuzzTargets.Names];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Target_EveryCorpusFileAndSavedCrash_FindsNoBug(string name)
    {
        string root = RepositoryRoot();
        string[] corpus = Files(Path.Combine(root, "fuzz", "corpus", name));
        string[] crashes = Files(Path.Combine(root, "fuzz", "crashes", name));
        Assert.NotEmpty(corpus);
        IFuzzTarget target = FuzzTargets.Create(name)!;
        var failures = new List<string>();
        try
        {
            foreach (string file in corpus.Concat(crashes))
            {
                try
                {
                    target.Run(File.ReadAllBytes(file));
                }
#pragma warning disable CA1031 // Whatever a harness lets out is a finding; all of them are listed below.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failures.Add($"{Path.GetRelativePath(root, file)}: {e.GetType().Name}: {e.Message}");
                }
            }
        }
        finally
        {
            (target as IDisposable)?.Dispose();
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string[] Files(string directory) =>
        Directory.Exists(directory) ? [.. Directory.GetFiles(directory).Where(static f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".md", StringComparison.Ordinal)).Order(StringComparer.Ordinal)] : [];

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Blkmq.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("No Blkmq.slnx above " + AppContext.BaseDirectory);
    }
}
