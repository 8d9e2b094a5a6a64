using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// A berthd with its own certs.d directory and two docker.io mirrors: the first a port that refuses
/// connections (a bound socket that never listens), the second a port a test starts a registry on.
/// </summary>
public sealed class RegistryDaemonFixture : DaemonFixture
{
    readonly Socket _deadMirror = BindWithoutListening();

    public string CertsDir => Path.Combine(Root, "certs.d");
    public int MirrorPort { get; } = DockerRegistry.FreePort();

    protected override string[] ExtraArgs =>
    [
        "--registry-certs-dir", CertsDir,
        "--registry-mirror", $"http://127.0.0.1:{((IPEndPoint)_deadMirror.LocalEndPoint!).Port}",
        "--registry-mirror", $"http://127.0.0.1:{MirrorPort}",
    ];

    static Socket BindWithoutListening()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return s;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _deadMirror.Dispose();
    }
}

/// <summary>
/// The registry transport end to end through berthd: a TLS registry trusted through certs.d (CA and
/// client certificate), docker.io mirrors with fallback, credential helpers used by the berth CLI, and
/// the docker CLI against berth-registry.
/// </summary>
public sealed class RegistryTransportTests(RegistryDaemonFixture d) : IClassFixture<RegistryDaemonFixture>
{
    static void Ok((int Code, string Out, string Err) r) => Assert.True(r.Code == 0, $"exit {r.Code}\n{r.Out}\n{r.Err}");

    /// <summary>
    /// Loopback registries are insecure by Docker's rule (no certificate check), so a registry whose
    /// certificate is checked must be reached by a name: the machine's host name, where it resolves to
    /// an address of this machine.
    /// </summary>
    static (string Name, IPAddress Address) LocalHostName()
    {
        var name = Dns.GetHostName().ToLowerInvariant();
        if (name == "localhost" || !System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"))
            Assert.Skip($"the host name '{name}' can't name a registry");
        IPAddress[] addresses;
        try { addresses = Dns.GetHostAddresses(name); }
        catch (SocketException e) { Assert.Skip($"the host name '{name}' does not resolve: {e.Message}"); throw; }
        var local = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(u => u.Address).ToHashSet();
        var address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && (IPAddress.IsLoopback(a) || local.Contains(a)));
        if (address is null) Assert.Skip($"the host name '{name}' resolves to no IPv4 address of this machine");
        return (name, address);
    }

    sealed class TestCa : IDisposable
    {
        readonly RSA _key = RSA.Create(2048);
        public X509Certificate2 Cert { get; }

        public TestCa()
        {
            var req = new CertificateRequest("CN=Berth test CA", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            Cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        }

        /// <summary>Writes a certificate signed by this CA and its key as PEM files.</summary>
        public void Issue(string subject, string? dnsName, bool server, string certPath, string keyPath)
        {
            using var key = RSA.Create(2048);
            var req = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [server ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
            if (dnsName is not null)
            {
                var san = new SubjectAlternativeNameBuilder();
                san.AddDnsName(dnsName);
                req.CertificateExtensions.Add(san.Build());
            }
            using var cert = req.Create(Cert, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(8));
            File.WriteAllText(certPath, cert.ExportCertificatePem());
            File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        }

        public void Dispose()
        {
            Cert.Dispose();
            _key.Dispose();
        }
    }

    [Fact]
    public async Task Tls_registry_is_refused_until_certs_d_holds_its_ca_and_a_client_certificate()
    {
        d.Require();
        var (name, address) = LocalHostName();
        var dir = Directory.CreateTempSubdirectory("berth-regtls-").FullName;
        try
        {
            using var ca = new TestCa();
            var caPath = Path.Combine(dir, "ca.pem");
            File.WriteAllText(caPath, ca.Cert.ExportCertificatePem());
            ca.Issue(name, name, server: true, Path.Combine(dir, "server.pem"), Path.Combine(dir, "server.key"));
            await using var reg = await BerthRegistryProcess.StartAsync("--addr", $"{address}:0", "--root", Path.Combine(dir, "root"),
                "--tls-cert", Path.Combine(dir, "server.pem"), "--tls-key", Path.Combine(dir, "server.key"), "--tls-client-ca", caPath);
            var host = $"{name}:{reg.HostPort.Split(':')[^1]}";
            var image = $"{host}/tls/busybox:v1";
            Ok(await d.Berth("tag", "busybox", image));

            var untrusted = await d.Berth("push", image);
            Assert.NotEqual(0, untrusted.Code);
            Assert.Contains("certificate", untrusted.Err + untrusted.Out, StringComparison.OrdinalIgnoreCase);

            // The CA alone: the server is trusted, but it wants a client certificate.
            var hostCerts = Directory.CreateDirectory(Path.Combine(d.CertsDir, host)).FullName;
            File.Copy(caPath, Path.Combine(hostCerts, "ca.crt"));
            var noClientCert = await d.Berth("push", image);
            Assert.NotEqual(0, noClientCert.Code);

            ca.Issue("berth client", null, server: false, Path.Combine(hostCerts, "client.cert"), Path.Combine(hostCerts, "client.key"));
            var push = await d.Berth("push", image);
            Ok(push);
            Assert.Matches(@"v1: digest: sha256:[0-9a-f]{64} size: \d+", push.Out);
            Ok(await d.Berth("rmi", image));
            var pull = await d.Berth("pull", image);
            Ok(pull);
            Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
            Ok(await d.Berth("rmi", image));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
            if (Directory.Exists(d.CertsDir)) Directory.Delete(d.CertsDir, recursive: true);
        }
    }

    [Fact]
    public async Task Docker_hub_pull_goes_to_the_first_mirror_that_answers()
    {
        d.Require();
        await using var mirror = await DockerRegistry.StartAsync(port: d.MirrorPort);
        var onMirror = $"{mirror.Host}/library/busybox:mirrored";
        Ok(await d.Berth("tag", "busybox", onMirror));
        Ok(await d.Berth("push", onMirror));
        Ok(await d.Berth("rmi", onMirror));

        // No route to Docker Hub exists here: the pull can only succeed through the second mirror,
        // after the first refused the connection.
        var pull = await d.Berth("pull", "busybox:mirrored");
        Ok(pull);
        Assert.Contains("Status: Downloaded newer image for busybox:mirrored", pull.Out);
        var run = await d.Berth("run", "--rm", "busybox:mirrored", "echo", "via mirror");
        Ok(run);
        Assert.Equal("via mirror\n", run.Out);
        Ok(await d.Berth("rmi", "busybox:mirrored"));
    }

    /// <summary>
    /// A credential helper as docker's protocol describes it: the action as argument, the server (get,
    /// erase) or a JSON payload (store) on stdin, one file per server, and a log of actions and servers.
    /// </summary>
    static string WriteHelper(string binDir, string store)
    {
        Directory.CreateDirectory(binDir);
        Directory.CreateDirectory(store);
        var path = Path.Combine(binDir, "docker-credential-berthtest");
        File.WriteAllText(path, $$"""
            #!/bin/sh
            store='{{store}}'
            input=$(cat)
            file() { printf '%s' "$1" | tr -c 'a-zA-Z0-9.' '_'; }
            case "$1" in
              get)
                echo "get $input" >> "$store/log"
                [ -f "$store/$(file "$input")" ] || { echo "credentials not found in native keychain"; exit 1; }
                cat "$store/$(file "$input")" ;;
              store)
                server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
                echo "store $server" >> "$store/log"
                printf '%s' "$input" > "$store/$(file "$server")" ;;
              erase)
                echo "erase $input" >> "$store/log"
                rm "$store/$(file "$input")" 2>/dev/null || { echo "credentials not found in native keychain"; exit 1; } ;;
              *) exit 2 ;;
            esac
            """.Replace("\r", ""));
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }

    [Theory]
    [InlineData("credsStore")]
    [InlineData("credHelpers")]
    public async Task Cli_login_pull_and_logout_keep_credentials_in_the_configured_helper(string kind)
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync("helper-user", "helper-pw");
        var dir = Directory.CreateTempSubdirectory("berth-credhelper-").FullName;
        try
        {
            var store = Path.Combine(dir, "store");
            WriteHelper(Path.Combine(dir, "bin"), store);
            var config = Path.Combine(dir, "config");
            Directory.CreateDirectory(config);
            // credHelpers wins over credsStore for its registry; the store named here doesn't exist.
            File.WriteAllText(Path.Combine(config, "config.json"), kind == "credsStore"
                ? """{"credsStore":"berthtest"}"""
                : $$$"""{"credsStore":"absent-helper","credHelpers":{"{{{reg.Host}}}":"berthtest"}}""");
            var env = new Dictionary<string, string>
            {
                ["DOCKER_CONFIG"] = config,
                ["PATH"] = Path.Combine(dir, "bin") + ":" + Environment.GetEnvironmentVariable("PATH"),
            };
            Task<(int Code, string Out, string Err)> Berth(string? stdin, params string[] args) =>
                Tools.RunAsync(Path.Combine(d.BinDir, "berth"), ["-H", d.Host, .. args], stdin, env);

            var image = $"{reg.Host}/creds/busybox:{kind.ToLowerInvariant()}";
            Ok(await Berth(null, "tag", "busybox", image));
            var anonymous = await Berth(null, "push", image);
            Assert.NotEqual(0, anonymous.Code);

            var login = await Berth("helper-pw\n", "login", "-u", "helper-user", "--password-stdin", reg.Host);
            Ok(login);
            Assert.Contains("Login Succeeded", login.Out);
            Assert.Contains($"store {reg.Host}", File.ReadAllText(Path.Combine(store, "log")));
            Assert.DoesNotContain("helper-pw", File.ReadAllText(Path.Combine(config, "config.json")));

            Ok(await Berth(null, "push", image));
            Ok(await Berth(null, "rmi", image));
            var pull = await Berth(null, "pull", image);
            Ok(pull);
            Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
            Assert.Contains($"get {reg.Host}", File.ReadAllText(Path.Combine(store, "log")));
            Ok(await Berth(null, "rmi", image));

            var logout = await Berth(null, "logout", reg.Host);
            Ok(logout);
            Assert.Contains($"Removing login credentials for {reg.Host}", logout.Out);
            Assert.Contains($"erase {reg.Host}", File.ReadAllText(Path.Combine(store, "log")));
            var afterLogout = await Berth(null, "pull", image);
            Assert.NotEqual(0, afterLogout.Code);
            var again = await Berth(null, "logout", reg.Host);
            Ok(again);
            Assert.Contains($"Not logged in to {reg.Host}", again.Out);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Docker_cli_pushes_to_and_pulls_from_berth_registry_through_berthd()
    {
        d.Require();
        if (!File.Exists("/usr/bin/htpasswd")) Assert.Skip("htpasswd is not installed (Debian package apache2-utils)");
        var dir = Directory.CreateTempSubdirectory("berth-regdcli-").FullName;
        try
        {
            var (code, line, err) = await Tools.RunAsync("/usr/bin/htpasswd", ["-Bbn", "bob", "b0b"]);
            Assert.True(code == 0, err);
            File.WriteAllText(Path.Combine(dir, "htpasswd"), line.Trim() + "\n");
            await using var reg = await BerthRegistryProcess.StartAsync("--root", Path.Combine(dir, "root"), "--htpasswd", Path.Combine(dir, "htpasswd"));
            var image = $"{reg.HostPort}/dcli/busybox:v3";
            Ok(await d.Docker("tag", "busybox", image));
            Ok(await d.Docker("login", "-u", "bob", "-p", "b0b", reg.HostPort));
            var push = await d.Docker("push", image);
            Ok(push);
            Assert.Matches(@"v3: digest: sha256:[0-9a-f]{64} size: \d+", push.Out);
            Ok(await d.Docker("rmi", image));
            var pull = await d.Docker("pull", image);
            Ok(pull);
            Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
            var run = await d.Docker("run", "--rm", image, "echo", "from berth-registry");
            Ok(run);
            Assert.Equal("from berth-registry\n", run.Out);
            Ok(await d.Docker("rmi", image));
            Ok(await d.Docker("logout", reg.HostPort));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
