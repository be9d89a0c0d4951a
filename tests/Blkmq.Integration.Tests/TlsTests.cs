using Blkmq.Integration.Tests.Infrastructure;
using Blkmq.Nbd;

namespace Blkmq.Integration.Tests;

/// <summary>STARTTLS with X.509 certificates made in the test, used by nbdinfo, nbdsh, qemu-img and a raw client.</summary>
public sealed class TlsTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>Starts a server with certificates made in-process, or by <paramref name="makeCertificates"/> (a tool).</summary>
    private static async Task<(NbdTestServer Server, string Home, string Pki)> StartAsync(
        NbdTlsMode mode, Func<string, Task<(string CertificateFile, string KeyFile)>>? makeCertificates = null)
    {
        string scratch = Path.Combine(Path.GetTempPath(), "blkmq-tls-" + Guid.NewGuid().ToString("N")[..12]);

        // libnbd looks for its certificates in $HOME/.pki/libnbd when none are given.
        string pki = Path.Combine(scratch, ".pki", "libnbd");
        (string certificate, string key) = makeCertificates is null ? TestCertificates.Create(pki) : await makeCertificates(pki);
        NbdTestServer server = await NbdTestServer.StartAsync(configure: o => o with { TlsMode = mode, TlsCertificateFile = certificate, TlsKeyFile = key });
        return (server, scratch, pki);
    }

    [Fact]
    public async Task NbdInfo_OverTls_WhenRequired()
    {
        ExternalTool.Require("nbdinfo");
        (NbdTestServer server, string home, _) = await StartAsync(NbdTlsMode.Require);
        await using (server)
        {
            var environment = new Dictionary<string, string> { ["HOME"] = home };
            ToolResult secure = await ExternalTool.RunCheckedAsync("nbdinfo", [NbdServer.FormatUri(server.EndPoint, "disk", tls: true)], s_timeout, environment: environment);
            Assert.Contains("export-size: 67108864", secure.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("uri: nbds://", secure.StandardOutput, StringComparison.Ordinal);

            // Plain text is refused.
            ToolResult plain = await ExternalTool.RunAsync("nbdinfo", [server.Uri()], s_timeout, environment: environment);
            Assert.NotEqual(0, plain.ExitCode);
            await server.WaitForNoConnectionsAsync();
        }

        Directory.Delete(home, recursive: true);
    }

    [Fact]
    public async Task NbdSh_TlsOptional_BothWork_AndDataRoundTrips()
    {
        await ExternalTool.RequireNbdShAsync();
        (NbdTestServer server, string home, string pki) = await StartAsync(NbdTlsMode.On);
        await using (server)
        {
            string script = $$"""
                h.set_tls(nbd.TLS_REQUIRE)
                h.set_tls_certificates("{{pki}}")
                h.connect_tcp("127.0.0.1", "{{server.Port}}")
                assert h.get_tls_negotiated()
                h.pwrite(b"\xee" * 65536, 4096)
                assert h.pread(65536, 4096) == b"\xee" * 65536
                h.shutdown()
                p = nbd.NBD()
                p.connect_uri("{{server.Uri()}}")
                assert not p.get_tls_negotiated()
                assert p.pread(65536, 4096) == b"\xee" * 65536
                p.shutdown()
                print("ok")
                """;
            ToolResult result = await ExternalTool.RunCheckedAsync("nbdsh", ["-c", script], s_timeout);
            Assert.Contains("ok", result.StandardOutput, StringComparison.Ordinal);
        }

        Directory.Delete(home, recursive: true);
    }

    [Fact]
    public async Task QemuImg_OverTls()
    {
        ExternalTool.Require("qemu-img");
        (NbdTestServer server, string home, string pki) = await StartAsync(NbdTlsMode.Require);
        await using (server)
        {
            Assert.Contains("67108864 bytes", await QemuImgInfoAsync(pki, server.Port), StringComparison.Ordinal);
        }

        Directory.Delete(home, recursive: true);
    }

    [Fact]
    public async Task NbdInfo_WithCertificatesMadeByCertTool()
    {
        ExternalTool.Require("nbdinfo");
        (NbdTestServer server, string home, _) = await StartAsync(NbdTlsMode.Require, TestCertificates.CreateWithCertToolAsync);
        await using (server)
        {
            var environment = new Dictionary<string, string> { ["HOME"] = home };
            ToolResult result = await ExternalTool.RunCheckedAsync("nbdinfo", [NbdServer.FormatUri(server.EndPoint, "disk", tls: true)], s_timeout, environment: environment);
            Assert.Contains("with TLS", result.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("export-size: 67108864", result.StandardOutput, StringComparison.Ordinal);
        }

        Directory.Delete(home, recursive: true);
    }

    [Fact]
    public async Task QemuImg_WithEcCertificatesMadeByOpenSsl()
    {
        ExternalTool.Require("qemu-img");
        (NbdTestServer server, string home, string pki) = await StartAsync(NbdTlsMode.Require, TestCertificates.CreateWithOpenSslAsync);
        await using (server)
        {
            Assert.StartsWith("-----BEGIN EC PRIVATE KEY-----", await File.ReadAllTextAsync(Path.Combine(pki, "server-key.pem")), StringComparison.Ordinal);
            Assert.Contains("67108864 bytes", await QemuImgInfoAsync(pki, server.Port), StringComparison.Ordinal);
        }

        Directory.Delete(home, recursive: true);
    }

    /// <summary>Runs <c>qemu-img info</c> on the export over TLS, trusting the CA in <paramref name="pki"/>.</summary>
    private static async Task<string> QemuImgInfoAsync(string pki, int port)
    {
        ToolResult result = await ExternalTool.RunCheckedAsync(
            "qemu-img",
            [
                "info",
                "--object", $"tls-creds-x509,id=tls0,dir={pki},endpoint=client",
                "--image-opts", $"driver=nbd,host=127.0.0.1,port={port},export=disk,tls-creds=tls0",
            ],
            s_timeout);
        return result.StandardOutput;
    }

    [Fact]
    public async Task RequireMode_RefusesEveryOptionButStartTlsAndAbort()
    {
        (NbdTestServer server, string home, _) = await StartAsync(NbdTlsMode.Require);
        await using (server)
        {
            await using RawNbdClient client = await RawNbdClient.ConnectAsync(server.EndPoint);
            await client.GreetAsync();
            Assert.Equal(RawNbdClient.RepErrTlsReqd, Assert.Single(await client.OptionAsync(RawNbdClient.OptList, [])).Type);
            Assert.Equal(RawNbdClient.RepErrTlsReqd, Assert.Single(await client.OptionAsync(RawNbdClient.OptGo, RawNbdClient.GoData("disk"))).Type);
            Assert.Equal(RawNbdClient.RepErrTlsReqd, Assert.Single(await client.OptionAsync(RawNbdClient.OptStructuredReply, [])).Type);
            Assert.Equal(RawNbdClient.RepErrTlsReqd, Assert.Single(await client.OptionAsync(99, [])).Type);
            Assert.Equal(RawNbdClient.RepErrInvalid, Assert.Single(await client.OptionAsync(RawNbdClient.OptStartTls, [1])).Type);
            Assert.Equal(RawNbdClient.RepAck, Assert.Single(await client.OptionAsync(RawNbdClient.OptAbort, [])).Type);
            Assert.True(await client.WaitForCloseAsync());
        }

        Directory.Delete(home, recursive: true);
    }

    [Fact]
    public async Task StartTls_ThenGarbageInsteadOfClientHello_IsALoggedDisconnect()
    {
        (NbdTestServer server, string home, _) = await StartAsync(NbdTlsMode.Require);
        await using (server)
        {
            await using (RawNbdClient client = await RawNbdClient.ConnectAsync(server.EndPoint))
            {
                await client.GreetAsync();
                Assert.Equal(RawNbdClient.RepAck, Assert.Single(await client.OptionAsync(RawNbdClient.OptStartTls, [])).Type);
                await client.SendAsync(new byte[64]);
                Assert.True(await client.WaitForCloseAsync());
            }

            await server.WaitForNoConnectionsAsync();
        }

        Directory.Delete(home, recursive: true);
    }
}
