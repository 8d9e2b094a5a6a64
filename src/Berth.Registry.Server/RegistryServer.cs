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
            var tls = options.TlsCert is null ? null : X509Certificate2.CreateFromPemFile(options.TlsCert, options.TlsKey);
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
