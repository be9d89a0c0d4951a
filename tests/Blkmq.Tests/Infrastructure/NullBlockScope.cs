using System.Runtime.ExceptionServices;
using Blkmq.Drivers.Null;

namespace Blkmq.Tests.Infrastructure;

/// <summary>
/// Runs a test body against a <see cref="NullBlock"/> and then disposes it, with the disposal (disk removal)
/// hang-guarded too: a removal that never drains fails the test instead of hanging the run, and a body failure is
/// never hidden behind the disposal's.
/// </summary>
internal static class NullBlockScope
{
    public static async Task RunAsync(NullBlockOptions options, Func<NullBlock, Task> body)
    {
        NullBlock nullb = NullBlock.Create(options);
        ExceptionDispatchInfo? failure = null;
        try
        {
            await body(nullb);
        }
        catch (Exception ex)
        {
            failure = ExceptionDispatchInfo.Capture(ex);
        }

        try
        {
            await nullb.DisposeAsync().AsTask().Guard();
        }
        catch (TimeoutException hung) when (failure is not null)
        {
            throw new AggregateException("The test failed, then removing its disks hung.", failure.SourceException, hung);
        }
        catch (TimeoutException hung)
        {
            throw new TimeoutException("Removing the disks hung (RemoveAsync never drained).", hung);
        }

        failure?.Throw();
    }
}
