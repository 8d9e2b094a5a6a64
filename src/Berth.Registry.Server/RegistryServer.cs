using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Berth.Registry.Server;

/// <summary>Hosts <see cref="RegistryApi"/> on Kestrel; tests start it in-process on port 0.</summary>
public sealed class RegistryServer : IAsyncDisposable
{
    readonly WebApplication _app;

    public Uri Address { get; }

    RegistryServer(WebApplication app, Uri address) => (_app, Address) = (app, address);

    public static async Task<RegistryServer> StartAsync(RegistryOptions options)
    {
        var storage = new Storage(options.Root);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ "; o.UseUtcTimestamp = true; });
        builder.Logging.SetMinimumLevel(ParseLevel(options.LogLevel));
        // Kestrel's own per-request chatter is noise next to the registry's log lines.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // Blob uploads are unbounded by design (layers can be many GB); manifests are bounded by the API.
            k.Limits.MaxRequestBodySize = null;
            var tls = HttpsOptions(options);
            void Configure(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions l) { if (tls is not null) l.UseHttps(tls); }
            var (host, port) = SplitAddr(options.Addr);
            if (host.Length == 0) k.ListenAnyIP(port, Configure);
            else if (host == "localhost") k.ListenLocalhost(port, Configure);
            else k.Listen(IPAddress.Parse(host), port, Configure);
        });
        var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("berth-registry");
        var api = new RegistryApi(storage, options, logger);
        app.Run(api.HandleAsync);
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Log.Listening(logger, bound, storage.Root);
        return new RegistryServer(app, new Uri(bound.Replace("[::]", "localhost", StringComparison.Ordinal)));
    }

    /// <summary>
    /// The server certificate, and with <c>--tls-client-ca</c> the mutual TLS that distribution's
    /// <c>http.tls.clientcas</c> gives: a client must present a certificate chaining to one of those CAs.
    /// </summary>
    static Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions? HttpsOptions(RegistryOptions options)
    {
        if (options.TlsCert is null) return null;
        var https = new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions
        {
            ServerCertificate = X509Certificate2.CreateFromPemFile(options.TlsCert, options.TlsKey),
        };
        if (options.TlsClientCa is null) return https;
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(options.TlsClientCa);
        https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
        https.ClientCertificateValidation = (cert, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(cert);
        };
        return https;
    }

    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    static (string Host, int Port) SplitAddr(string addr)
    {
        int colon = addr.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(addr[(colon + 1)..], out var port) || port is < 0 or > 65535)
            throw new ArgumentException($"invalid --addr {addr} (want HOST:PORT)");
        var host = addr[..colon].Trim('[', ']');
        if (host.Length > 0 && host != "localhost" && !IPAddress.TryParse(host, out _))
            throw new ArgumentException($"invalid --addr {addr}: the host must be an IP address, localhost or empty");
        return (host, port);
    }

    static LogLevel ParseLevel(string level) => level.ToLowerInvariant() switch
    {
        "debug" or "trace" => LogLevel.Debug,
        "info" or "information" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "fatal" or "panic" => LogLevel.Critical,
        _ => throw new ArgumentException($"unknown --log-level {level}"),
    };
}
