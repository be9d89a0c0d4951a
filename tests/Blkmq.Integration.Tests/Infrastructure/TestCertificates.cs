using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// Makes a throw-away CA and a server certificate for 127.0.0.1 / localhost signed by it, as PEM files in the
/// layout libnbd and qemu read from a directory (<c>ca-cert.pem</c>, <c>server-cert.pem</c>, <c>server-key.pem</c>):
/// in-process, or with the tools users make them with (GnuTLS <c>certtool</c>, as nbdkit's TLS manual shows, and
/// <c>openssl</c>).
/// </summary>
internal static class TestCertificates
{
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Makes the files with GnuTLS <c>certtool</c> and templates as in nbdkit-tls(1): 3072-bit RSA keys.</summary>
    public static async Task<(string CertificateFile, string KeyFile)> CreateWithCertToolAsync(string directory)
    {
        ExternalTool.Require("certtool");
        Directory.CreateDirectory(directory);
        string caKey = Path.Combine(directory, "ca-key.pem");
        string caCertificate = Path.Combine(directory, "ca-cert.pem");
        string key = Path.Combine(directory, "server-key.pem");
        string certificate = Path.Combine(directory, "server-cert.pem");
        string caTemplate = Path.Combine(directory, "ca.info");
        string serverTemplate = Path.Combine(directory, "server.info");
        await File.WriteAllTextAsync(caTemplate, "cn = Blkmq test CA\nca\ncert_signing_key\nexpiration_days = 2\n");
        await File.WriteAllTextAsync(
            serverTemplate,
            "organization = Blkmq\ncn = localhost\ntls_www_server\nencryption_key\nsigning_key\ndns_name = localhost\nip_address = 127.0.0.1\nexpiration_days = 2\n");
        await ExternalTool.RunCheckedAsync("certtool", ["--generate-privkey", "--outfile", caKey], s_toolTimeout);
        await ExternalTool.RunCheckedAsync("certtool", ["--generate-self-signed", "--load-privkey", caKey, "--template", caTemplate, "--outfile", caCertificate], s_toolTimeout);
        await ExternalTool.RunCheckedAsync("certtool", ["--generate-privkey", "--outfile", key], s_toolTimeout);
        await ExternalTool.RunCheckedAsync(
            "certtool",
            ["--generate-certificate", "--load-ca-certificate", caCertificate, "--load-ca-privkey", caKey, "--load-privkey", key, "--template", serverTemplate, "--outfile", certificate],
            s_toolTimeout);
        return (certificate, key);
    }

    /// <summary>Makes the files with <c>openssl</c>: P-256 keys in OpenSSL's traditional EC form (<c>BEGIN EC PRIVATE KEY</c>).</summary>
    public static async Task<(string CertificateFile, string KeyFile)> CreateWithOpenSslAsync(string directory)
    {
        ExternalTool.Require("openssl");
        Directory.CreateDirectory(directory);
        string caKey = Path.Combine(directory, "ca-key.pem");
        string caCertificate = Path.Combine(directory, "ca-cert.pem");
        string key = Path.Combine(directory, "server-key.pem");
        string request = Path.Combine(directory, "server.csr");
        string certificate = Path.Combine(directory, "server-cert.pem");
        string extensions = Path.Combine(directory, "server.ext");
        await File.WriteAllTextAsync(extensions, "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\nkeyUsage = critical, digitalSignature\n");
        await ExternalTool.RunCheckedAsync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", caKey], s_toolTimeout);
        await ExternalTool.RunCheckedAsync(
            "openssl",
            ["req", "-x509", "-new", "-key", caKey, "-subj", "/CN=Blkmq test CA", "-days", "2", "-out", caCertificate,
             "-addext", "basicConstraints = critical, CA:TRUE", "-addext", "keyUsage = critical, keyCertSign, cRLSign"],
            s_toolTimeout);
        await ExternalTool.RunCheckedAsync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], s_toolTimeout);
        await ExternalTool.RunCheckedAsync("openssl", ["req", "-new", "-key", key, "-subj", "/CN=localhost", "-out", request], s_toolTimeout);
        await ExternalTool.RunCheckedAsync(
            "openssl",
            ["x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-set_serial", "0x" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8)), "-days", "1",
             "-extfile", extensions, "-out", certificate],
            s_toolTimeout);
        return (certificate, key);
    }

    public static (string CertificateFile, string KeyFile) Create(string directory)
    {
        Directory.CreateDirectory(directory);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using RSA caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=Blkmq test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(2));

        using RSA serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        byte[] serial = new byte[12];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f;
        using X509Certificate2 server = serverRequest.Create(ca, now.AddDays(-1), now.AddDays(1), serial);

        string caFile = Path.Combine(directory, "ca-cert.pem");
        string certificateFile = Path.Combine(directory, "server-cert.pem");
        string keyFile = Path.Combine(directory, "server-key.pem");
        File.WriteAllText(caFile, ca.ExportCertificatePem());
        File.WriteAllText(certificateFile, server.ExportCertificatePem());
        File.WriteAllText(keyFile, serverKey.ExportPkcs8PrivateKeyPem());
        return (certificateFile, keyFile);
    }
}
