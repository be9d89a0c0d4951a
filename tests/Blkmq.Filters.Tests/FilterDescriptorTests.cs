using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>What <c>blkmq drivers</c> lists of each filter: a default it shows is the default the filter uses.</summary>
public sealed class FilterDescriptorTests
{
    public static TheoryData<string> Filters => [.. FilterRegistry.Default.Filters.Select(static f => f.Name)];

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task EveryDefaultThatParses_IsTheFiltersDefault(string name)
    {
        FilterDescriptor filter = FilterRegistry.Default.Filters.Single(f => f.Name == name);
        string directory = Directory.CreateTempSubdirectory("blkmq-filter-defaults").FullName;
        try
        {
            // A filter that needs a parameter gets one the defaults leave alone.
            string required = name switch
            {
                "rate" => "rate=1M",
                "log-writes" => "file=" + Path.Combine(directory, "log"),
                _ => string.Empty,
            };

            // A filter that needs more of the disk below than a memory disk has (partition: a table) is not checked.
            string? plain = await ParametersAsync($"{name}:{required}");
            if (plain is null)
            {
                return;
            }

            foreach (DriverParameter parameter in filter.Parameters.Where(p => p.DefaultValue.Length > 0 && !required.StartsWith(p.Name + "=", StringComparison.Ordinal)))
            {
                // Defaults given as words ("the disk's", "whole disk") do not parse; every one that does must change nothing.
                string? given = await ParametersAsync($"{name}:{required}{(required.Length > 0 ? "," : string.Empty)}{parameter.Name}={parameter.DefaultValue}");
                Assert.True(given is null || given == plain, $"{name}: {parameter.Name}={parameter.DefaultValue} gives '{given}', the default '{plain}'");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }

        static async Task<string?> ParametersAsync(string filter)
        {
            DriverInstance stack;
            try
            {
                stack = Stacks.Create("memory:size=1M|" + filter);
            }
            catch (FormatException)
            {
                return null;
            }

            await using (stack)
            {
                return FilterStack.FindFilters(stack).Single().Parameters;
            }
        }
    }
}
