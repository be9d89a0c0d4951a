using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// libnbd's Python shell (nbdsh) sending what libnbd's own checks normally stop: unaligned and zero-length requests
/// (strict mode off), plus block status after trim and structured reads of holes.
/// </summary>
public sealed class NbdShTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task UnalignedAndZeroLengthRequests_GetEinval_AndTheConnectionGoesOn()
    {
        await ExternalTool.RequireNbdShAsync();
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=64M,bs=4096,irqmode=0");
        string script = $$"""
            import errno
            h.set_strict_mode(0)
            h.connect_uri("{{server.Uri()}}")
            assert h.get_block_size(nbd.SIZE_MINIMUM) == 4096
            def expect(code, fn, *args):
                try:
                    fn(*args)
                except nbd.Error as e:
                    assert e.errnum == code, (fn.__name__, args, e.errnum, e.string)
                    return
                raise AssertionError("no error from %s%r" % (fn.__name__, args))
            expect(errno.EINVAL, h.pread, 512, 0)
            expect(errno.EINVAL, h.pread, 4096, 1)
            expect(errno.EINVAL, h.pwrite, b"x" * 100, 4096)
            expect(errno.EINVAL, h.trim, 4096, 100)
            expect(errno.EINVAL, h.pread, 0, 0)
            expect(errno.EINVAL, h.pwrite, b"", 4096)
            expect(errno.EINVAL, h.trim, 0, 0)
            expect(errno.EINVAL, h.zero, 0, 0)
            expect(errno.EINVAL, h.pread, 4096, 64 * 1024 * 1024)
            expect(errno.ENOSPC, h.pwrite, b"y" * 8192, 64 * 1024 * 1024 - 4096)
            h.pwrite(b"z" * 8192, 8192)
            assert h.pread(8192, 8192) == b"z" * 8192
            h.flush()
            h.shutdown()
            print("ok")
            """;
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdsh", ["-c", script], s_timeout);
        Assert.Contains("ok", result.StandardOutput, StringComparison.Ordinal);
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task BlockStatus_AfterTrim_ReportsHoles()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await ExternalTool.RequireNbdShAsync();
        string script = $$"""
            h.add_meta_context("base:allocation")
            h.connect_uri("{{server.Uri()}}")
            assert h.can_meta_context("base:allocation")
            h.pwrite(b"\x01" * 1048576, 0)
            h.trim(262144, 262144)
            entries = []
            def f(metacontext, offset, e, err):
                assert metacontext == "base:allocation"
                entries.extend(e)
                return 0
            h.block_status(2097152, 0, f)
            assert entries == [262144, 0, 262144, 3, 524288, 0, 1048576, 3], entries
            one = []
            def g(metacontext, offset, e, err):
                one.extend(e)
                return 0
            h.block_status(2097152, 262144, g, nbd.CMD_FLAG_REQ_ONE)
            assert one == [262144, 3], one
            assert h.pread(262144, 262144) == bytes(262144)
            h.shutdown()
            print("ok")
            """;
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdsh", ["-c", script], s_timeout);
        Assert.Contains("ok", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteZeroes_WithNoHole_Provisions_WithoutIt_Punches()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await ExternalTool.RequireNbdShAsync();

        // NBD_CMD_FLAG_NO_HOLE: "the area MUST be fully provisioned", so block status must stop calling it a hole,
        // even where nothing was ever written; without the flag the server may (and this one does) punch a hole.
        string script = $$"""
            h.add_meta_context("base:allocation")
            h.connect_uri("{{server.Uri()}}")
            h.pwrite(b"\x07" * 131072, 0)
            h.zero(65536, 0, nbd.CMD_FLAG_NO_HOLE)
            h.zero(65536, 1048576, nbd.CMD_FLAG_NO_HOLE)
            h.zero(65536, 65536)
            entries = []
            def f(metacontext, offset, e, err):
                entries.extend(e)
                return 0
            h.block_status(2097152, 0, f)
            assert entries == [65536, 0, 983040, 3, 65536, 0, 983040, 3], entries
            assert h.pread(65536, 0) == bytes(65536)
            assert h.pread(65536, 1048576) == bytes(65536)
            h.shutdown()
            print("ok")
            """;
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdsh", ["-c", script], s_timeout);
        Assert.Contains("ok", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StructuredRead_OfHoles_ArrivesAsHoleChunks()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await ExternalTool.RequireNbdShAsync();
        string script = $$"""
            h.connect_uri("{{server.Uri()}}")
            assert h.get_structured_replies_negotiated()
            h.pwrite(b"\x05" * 4096, 65536)
            chunks = []
            def cb(buf, offset, status, err):
                chunks.append((offset, len(buf), status))
                return 0
            buf = h.pread_structured(131072, 0, cb)
            chunks.sort()
            assert chunks == [(0, 65536, nbd.READ_HOLE), (65536, 4096, nbd.READ_DATA), (69632, 61440, nbd.READ_HOLE)], chunks
            assert buf == bytes(65536) + b"\x05" * 4096 + bytes(61440)
            chunks.clear()
            h.pread_structured(131072, 0, cb, nbd.CMD_FLAG_DF)
            assert chunks == [(0, 131072, nbd.READ_DATA)], chunks
            h.shutdown()
            print("ok")
            """;
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdsh", ["-c", script], s_timeout);
        Assert.Contains("ok", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NullDiskWithoutMemory_IsOneHole_YetReadsStillReachTheDriver()
    {
        // Like nbdkit's null plugin the disk reports itself as a hole that reads as zeroes, so copy tools skip it;
        // but a read is still a read: the driver's bad block fails it.
        await using NbdTestServer server = await NbdTestServer.StartAsync("size=64M,irqmode=0,badblocks=16-23");
        await ExternalTool.RequireNbdShAsync();
        string script = $$"""
            h.add_meta_context("base:allocation")
            h.connect_uri("{{server.Uri()}}")
            extents = []
            def ext(metacontext, offset, entries, err):
                extents.extend(entries)
                return 0
            h.block_status(65536, 0, ext)
            assert extents == [65536, 3], extents
            chunks = []
            def cb(buf, offset, status, err):
                chunks.append((offset, len(buf), status))
                return 0
            h.pwrite(b"\x05" * 4096, 0)
            buf = h.pread_structured(4096, 0, cb)
            assert buf == bytes(4096) and chunks == [(0, 4096, nbd.READ_HOLE)], chunks
            try:
                h.pread(4096, 8192)
                assert False, "read of a bad block succeeded"
            except nbd.Error as e:
                assert e.errno == "EIO", e.errno
            h.shutdown()
            print("ok")
            """;
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdsh", ["-c", script], s_timeout);
        Assert.Contains("ok", result.StandardOutput, StringComparison.Ordinal);
    }
}
