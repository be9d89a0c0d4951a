namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>What mounting FUSE and attaching loop devices needs: root, <c>/dev/fuse</c> and <c>/dev/loop-control</c>.</summary>
internal static class FuseRequirements
{
    /// <summary>Skips the test (fails it under <c>CI=true</c>) unless FUSE can be mounted and loop devices attached.</summary>
    public static void RequireRootWithFuse()
    {
        string? missing = Environment.UserName != "root" ? "root (for mount and losetup)"
            : !File.Exists("/dev/fuse") ? "/dev/fuse"
            : !File.Exists("/dev/loop-control") ? "/dev/loop-control"
            : null;
        if (missing is null)
        {
            return;
        }

        string message = $"This test needs {missing}.";
        if (ExternalTool.IsCi)
        {
            Assert.Fail(message);
        }

        Assert.Skip(message);
    }
}
