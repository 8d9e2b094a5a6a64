using System.Net;
using Xunit;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Berth.Daemon.Tests;

/// <summary>
/// berthd on tcp:// with mutual TLS, as dockerd's --tlsverify: clients with a certificate signed by
/// the CA get the API, everyone else gets no HTTP at all. The certificates are made in the test.
/// </summary>
public sealed class TlsListenerTests
{
    [Fact]
    public async Task Tcp_listener_serves_clients_with_a_ca_signed_certificate_and_no_one_else()
    {
        if (Tools.MissingPrerequisite() is { } skip) Assert.Skip(skip);
        await using var d = new DaemonFixture();
        var pki = TestPki.Write(Path.Combine(d.Root, "pki"));
        int port = FreeTcpPort();
        var tcpHost = $"tcp://127.0.0.1:{port}";
        await d.StartDaemonAsync("-H", tcpHost, "--tlsverify", "--tlscacert", pki.Ca, "--tlscert", pki.ServerCert, "--tlskey", pki.ServerKey);

        await WaitForListenerAsync(port);

        // The berth CLI with the client certificate.
        var berth = await Tools.RunAsync(Path.Combine(d.BinDir, "berth"),
            ["-H", tcpHost, "--tlsverify", "--tlscacert", pki.Ca, "--tlscert", pki.ClientCert, "--tlskey", pki.ClientKey, "version"]);
        Assert.True(berth.Code == 0, berth.Err + "\n" + d.DaemonLog);
        Assert.Contains(Berth.Api.ApiVersions.EngineVersion, berth.Out);

        // A client certificate from another CA is refused during the handshake.
        var stranger = TestPki.Write(Path.Combine(d.Root, "stranger"));
        var refused = await Tools.RunAsync(Path.Combine(d.BinDir, "berth"),
            ["-H", tcpHost, "--tlsverify", "--tlscacert", pki.Ca, "--tlscert", stranger.ClientCert, "--tlskey", stranger.ClientKey, "version"]);
        Assert.NotEqual(0, refused.Code);

        // Plain HTTP on the TLS port gets no API answer.
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            var stream = tcp.GetStream();
            await stream.WriteAsync("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            var buffer = new byte[256];
            int n;
            try { n = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)); }
            catch (IOException) { n = 0; }
            Assert.DoesNotContain("OK", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        }

        // The real docker CLI, with and without its certificate.
        if (File.Exists(Tools.DockerCli))
        {
            var env = new Dictionary<string, string> { ["DOCKER_CONFIG"] = Path.Combine(d.Root, "docker-config") };
            var ok = await Tools.RunAsync(Tools.DockerCli,
                ["-H", tcpHost, "--tlsverify", "--tlscacert", pki.Ca, "--tlscert", pki.ClientCert, "--tlskey", pki.ClientKey, "version", "--format", "{{.Server.Version}}"], null, env);
            Assert.True(ok.Code == 0, ok.Err);
            Assert.Equal(Berth.Api.ApiVersions.EngineVersion, ok.Out.Trim());
            var noCert = await Tools.RunAsync(Tools.DockerCli, ["-H", tcpHost, "--tls", "--tlscacert", pki.Ca, "version"], null, env);
            Assert.NotEqual(0, noCert.Code);
        }
    }

    [Fact]
    public async Task Tcp_listener_without_tls_flags_is_refused_at_start()
    {
        if (Tools.MissingPrerequisite() is { } skip) Assert.Skip(skip);
        var root = Directory.CreateTempSubdirectory("berth-tls-").FullName;
        try
        {
            var (code, _, err) = await Tools.RunAsync(Path.Combine(Tools.BinDir, "berthd"),
                ["-H", $"tcp://127.0.0.1:{FreeTcpPort()}", "--data-root", Path.Combine(root, "data"), "--exec-root", Path.Combine(root, "exec"), "--bridge", "none"], timeoutSeconds: 30);
            Assert.NotEqual(0, code);
            Assert.Contains("mutual TLS", err);
        }
        finally { Directory.Delete(root, true); }
    }

    /// <summary>The unix socket answering doesn't mean the tcp listener is up yet.</summary>
    static async Task WaitForListenerAsync(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline) { await Task.Delay(50); }
        }
    }

    static int FreeTcpPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.</summary>
    sealed record TestPki(string Ca, string ServerCert, string ServerKey, string ClientCert, string ClientKey)
    {
        public static TestPki Write(string dir)
        {
            Directory.CreateDirectory(dir);
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caReq = new CertificateRequest("CN=berth test CA", caKey, HashAlgorithmName.SHA256);
            caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
            var now = DateTimeOffset.UtcNow;
            using var ca = caReq.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

            string Leaf(string name, bool server)
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
                req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
                req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
                req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                    [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
                if (server)
                {
                    var san = new SubjectAlternativeNameBuilder();
                    san.AddIpAddress(IPAddress.Loopback);
                    san.AddDnsName("localhost");
                    req.CertificateExtensions.Add(san.Build());
                }
                using var cert = req.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(12));
                var certPath = Path.Combine(dir, name + "-cert.pem");
                File.WriteAllText(certPath, cert.ExportCertificatePem());
                File.WriteAllText(Path.Combine(dir, name + "-key.pem"), key.ExportPkcs8PrivateKeyPem());
                return certPath;
            }

            var caPath = Path.Combine(dir, "ca.pem");
            File.WriteAllText(caPath, ca.ExportCertificatePem());
            var serverCert = Leaf("server", server: true);
            var clientCert = Leaf("client", server: false);
            return new TestPki(caPath, serverCert, Path.Combine(dir, "server-key.pem"), clientCert, Path.Combine(dir, "client-key.pem"));
        }
    }
}
