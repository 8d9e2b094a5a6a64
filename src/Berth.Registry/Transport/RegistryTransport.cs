using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Berth.Registry.Transport;

/// <summary>
/// One HTTP client per registry host, each set up as Docker's <c>certs.d</c> says: system CAs plus
/// <c>CERTS_DIR/HOST[:PORT]/*.crt</c>, a client certificate from <c>*.cert</c>/<c>*.key</c>, and no
/// verification at all for insecure registries. It also decides, once per host, whether an insecure
/// registry speaks HTTPS or plain HTTP (Docker tries HTTPS first and falls back).
/// Like dockerd, which reads <c>certs.d</c> for every new transport, a CA or client certificate added
/// (or changed) while the daemon runs takes effect on the next request without a restart.
/// </summary>
public sealed class RegistryTransport(RegistryOptions options) : IDisposable
{
    public const string DockerHubHost = "registry-1.docker.io";
    public const string DockerHubDomain = "docker.io";

    readonly ConcurrentDictionary<string, (string CertsState, HttpClient Client)> _clients = new();
    readonly ConcurrentDictionary<string, Uri> _bases = new();

    public RegistryOptions Options => options;

    /// <summary>The host that serves a reference's domain: docker.io's API lives on registry-1.docker.io.</summary>
    public static string ApiHost(string domain) => domain == DockerHubDomain ? DockerHubHost : domain;

    public HttpClient ClientFor(string host)
    {
        var state = CertsState(host);
        if (_clients.TryGetValue(host, out var known) && known.CertsState == state) return known.Client;
        // A replaced client is not disposed: requests may still be using it, and its idle
        // connections close by themselves after PooledConnectionIdleTimeout.
        return _clients.AddOrUpdate(host, h => (state, Create(h)), (h, old) => old.CertsState == state ? old : (state, Create(h))).Client;
    }

    /// <summary>Names, sizes and times of the host's certs.d files: cheap to take per request, and it changes with any edit.</summary>
    string CertsState(string host)
    {
        var dir = new DirectoryInfo(Path.Combine(options.CertsDir, host));
        if (!dir.Exists) return "";
        return string.Join('|', dir.EnumerateFiles().OrderBy(f => f.Name, StringComparer.Ordinal)
            .Select(f => $"{f.Name}:{f.Length}:{f.LastWriteTimeUtc.Ticks}"));
    }

    HttpClient Create(string host)
    {
        bool insecure = options.IsInsecure(host);
        var ssl = new SslClientAuthenticationOptions();
        var dir = Path.Combine(options.CertsDir, host);
        X509Certificate2Collection? extraRoots = null;
        if (Directory.Exists(dir))
        {
            foreach (var crt in Directory.GetFiles(dir, "*.crt"))
                (extraRoots ??= new()).ImportFromPemFile(crt);
            foreach (var cert in Directory.GetFiles(dir, "*.cert"))
            {
                var key = Path.ChangeExtension(cert, ".key");
                if (!File.Exists(key)) throw new RegistryException(RegistryErrorKind.Invalid, $"missing key {key} for client certificate {cert}");
                ssl.ClientCertificates ??= new X509CertificateCollection();
                ssl.ClientCertificates.Add(X509Certificate2.CreateFromPemFile(cert, key));
            }
        }
        ssl.RemoteCertificateValidationCallback = (_, cert, chain, errors) =>
        {
            if (insecure || errors == SslPolicyErrors.None) return true;
            if (extraRoots is null || cert is null || errors != SslPolicyErrors.RemoteCertificateChainErrors) return false;
            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(extraRoots);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return custom.Build(new X509Certificate2(cert));
        };
        var handler = new SocketsHttpHandler
        {
            SslOptions = ssl,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(15),
            MaxConnectionsPerServer = 32,
        };
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>
    /// The base URI (<c>scheme://host</c>) to talk to <paramref name="host"/> with. Secure hosts are HTTPS
    /// only; insecure ones try HTTPS once and fall back to HTTP when the TLS handshake fails.
    /// </summary>
    public async Task<Uri> BaseUriAsync(string host, CancellationToken ct)
    {
        if (_bases.TryGetValue(host, out var known)) return known;
        var https = new Uri("https://" + host);
        if (!options.IsInsecure(host)) return _bases.GetOrAdd(host, https);
        try
        {
            using var probe = new HttpRequestMessage(HttpMethod.Get, new Uri(https, "/v2/"));
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(10));
            using var _ = await ClientFor(host).SendAsync(probe, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            return _bases.GetOrAdd(host, https);
        }
        catch (HttpRequestException e) when (e.InnerException is AuthenticationException or IOException || e.HttpRequestError is HttpRequestError.SecureConnectionError)
        {
            return _bases.GetOrAdd(host, new Uri("http://" + host));
        }
    }

    public void Dispose()
    {
        foreach (var c in _clients.Values) c.Client.Dispose();
    }
}
