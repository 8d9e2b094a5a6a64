using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Berth.Cli.Transport;

/// <summary>TLS settings from <c>--tls</c>, <c>--tlsverify</c> and the certificate flags.</summary>
public sealed record TlsOptions(bool Verify, string? CaCertPath, string? CertPath, string? KeyPath);

/// <summary>
/// Where the daemon listens (<c>unix://</c>, <c>tcp://</c> or <c>fd://</c>) and how to open one
/// connection to it. Each request gets its own connection: the CLI makes only a handful.
/// </summary>
public sealed class DaemonEndpoint
{
    public const string DefaultHost = "unix:///run/berth/berth.sock";

    public string Scheme { get; }
    /// <summary>Socket path, host:port or file descriptor number.</summary>
    public string Address { get; }
    public string Original { get; }
    public TlsOptions? Tls { get; private init; }

    public DaemonEndpoint WithTls(TlsOptions tls) => new(Scheme, Address, Original) { Tls = tls };

    DaemonEndpoint(string scheme, string address, string original)
    {
        Scheme = scheme;
        Address = address;
        Original = original;
    }

    /// <summary>Parses <c>-H</c>/<c>DOCKER_HOST</c>; a bare path means unix, a bare host:port tcp, like docker.</summary>
    public static DaemonEndpoint Parse(string host)
    {
        var h = host.Trim();
        if (h.Length == 0) h = DefaultHost;
        int sep = h.IndexOf("://", StringComparison.Ordinal);
        string scheme, rest;
        if (sep < 0)
        {
            if (h.StartsWith('/')) { scheme = "unix"; rest = h; }
            else { scheme = "tcp"; rest = h; }
        }
        else
        {
            scheme = h[..sep].ToLowerInvariant();
            rest = h[(sep + 3)..];
        }
        switch (scheme)
        {
            case "unix":
                if (rest.Length == 0) throw new FormatException($"invalid bind address ({host}): empty string");
                return new DaemonEndpoint("unix", rest, h);
            case "tcp":
            case "http":
            case "https":
                rest = rest.TrimEnd('/');
                if (rest.Length == 0) throw new FormatException($"invalid bind address ({host}): empty string");
                if (!rest.Contains(':') || rest.EndsWith(':')) rest = rest.TrimEnd(':') + ":2375";
                return new DaemonEndpoint("tcp", rest, h);
            case "fd":
                if (!int.TryParse(rest, out _)) throw new FormatException($"invalid file descriptor address ({host})");
                return new DaemonEndpoint("fd", rest, h);
            default:
                throw new FormatException($"Invalid bind address format: {host}");
        }
    }

    /// <summary>The Host header value; docker's client sends a dummy for sockets.</summary>
    public string HostHeader => Scheme == "tcp" ? Address : "api.moby.localhost";

    /// <summary>
    /// Opens a connection. A <paramref name="blocking"/> one to a unix socket does all its I/O as
    /// blocking calls on the caller's thread (<see cref="UnixSocketStream"/>); the others use
    /// the runtime's socket engine, so several can be waited on at once.
    /// </summary>
    public async Task<Stream> ConnectAsync(CancellationToken ct, bool blocking = false)
    {
        Socket socket;
        switch (Scheme)
        {
            case "unix" when blocking:
                return new SynchronousStream(UnixSocketStream.Connect(Address));
            case "unix":
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try { await socket.ConnectAsync(new UnixDomainSocketEndPoint(Address), ct); }
                catch { socket.Dispose(); throw; }
                break;
            case "fd":
                socket = new Socket(new SafeSocketHandle((IntPtr)int.Parse(Address), ownsHandle: false));
                break;
            default:
                int colon = Address.LastIndexOf(':');
                string hostName = Address[..colon].Trim('[', ']');
                int port = int.Parse(Address[(colon + 1)..]);
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try { await socket.ConnectAsync(hostName, port, ct); }
                catch { socket.Dispose(); throw; }
                break;
        }
        var net = new NetworkStream(socket, ownsSocket: true);
        if (Tls is null) return net;
        return await WrapTlsAsync(net, ct);
    }

    async Task<Stream> WrapTlsAsync(NetworkStream net, CancellationToken ct)
    {
        var tls = Tls!;
        var options = new SslClientAuthenticationOptions { TargetHost = Address[..Address.LastIndexOf(':')].Trim('[', ']') };
        if (tls.CertPath is not null && tls.KeyPath is not null && File.Exists(tls.CertPath) && File.Exists(tls.KeyPath))
        {
            var cert = X509Certificate2.CreateFromPemFile(tls.CertPath, tls.KeyPath);
            // An ephemeral PEM key can't be used by SslStream on every platform; re-import as PKCS#12.
            cert = X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
            options.ClientCertificates = new X509CertificateCollection { cert };
        }
        if (!tls.Verify)
            options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        else if (tls.CaCertPath is not null && File.Exists(tls.CaCertPath))
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(tls.CaCertPath);
            options.CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            options.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
        }
        var ssl = new SslStream(net, leaveInnerStreamOpen: false);
        try { await ssl.AuthenticateAsClientAsync(options, ct); }
        catch { await ssl.DisposeAsync(); throw; }
        return ssl;
    }
}
