using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Berth.Api;
using Berth.Daemon.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon.Server;

/// <summary>
/// The daemon's Server role: Kestrel listening on the unix socket (and TCP only with mutual TLS),
/// Docker's version rules and headers on every response, and one job per request.
/// </summary>
public sealed partial class ApiServer : IAsyncDisposable
{
    static readonly string ServerHeader = $"Docker/{ApiVersions.EngineVersion} (linux)";
    static readonly Version MinVersion = Version.Parse(ApiVersions.Min);
    static readonly Version MaxVersion = Version.Parse(ApiVersions.Max);

    readonly DaemonOptions _options;
    readonly Engine.Engine _engine;
    readonly Router _router = ApiRoutes.Build();
    readonly ILogger _log;
    WebApplication? _app;

    public ApiServer(DaemonOptions options, Engine.Engine engine, ILoggerFactory loggers)
    {
        _options = options;
        _engine = engine;
        _log = loggers.CreateLogger("Berth.Server");
    }

    public IReadOnlyList<Route> Routes => _router.Routes;

    /// <summary>The <c>serveapi</c> job: binds every listener and starts serving.</summary>
    public async Task StartAsync(ILoggerProvider logProvider)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Array.Empty<string>() });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logProvider);
        builder.Logging.SetMinimumLevel(_options.LogLevel <= LogLevel.Debug ? LogLevel.Information : LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            k.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10);
            foreach (var host in _options.Hosts) Listen(k, host);
        });
        _app = builder.Build();
        _app.Run(HandleAsync);

        var unixSockets = _options.Hosts.Where(h => h.Scheme == "unix").Select(h => h.Path).ToList();
        foreach (var path in unixSockets) PrepareSocketPath(path);
        // Sockets are born 0660 rather than chmod-ed after a window of wider access.
        var oldMask = Interop.LibC.umask(0b001_001_111) /* 0117 */;
        try { await _app.StartAsync(); }
        finally { Interop.LibC.umask(oldMask); }
        foreach (var path in unixSockets) SetSocketGroup(path);
    }

    void Listen(KestrelServerOptions k, DaemonHost host)
    {
        switch (host.Scheme)
        {
            case "unix":
                k.ListenUnixSocket(host.Path, lo => lo.Protocols = HttpProtocols.Http1);
                break;
            case "tcp":
                var ip = host.Address == "" || host.Address == "0.0.0.0" ? IPAddress.Any : IPAddress.Parse(host.Address);
                k.Listen(ip, host.Port, lo =>
                {
                    lo.Protocols = HttpProtocols.Http1;
                    lo.UseHttps(ConfigureTls);
                });
                break;
            default:
                throw new ArgumentException($"unsupported host scheme {host.Scheme}");
        }
    }

    void ConfigureTls(HttpsConnectionAdapterOptions https)
    {
        var cert = X509Certificate2.CreateFromPemFile(_options.TlsCert!, _options.TlsKey!);
        https.ServerCertificate = X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
        var ca = new X509Certificate2Collection();
        ca.ImportFromPemFile(_options.TlsCaCert!);
        https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
        https.ClientCertificateValidation = (clientCert, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(clientCert);
        };
    }

    /// <summary>Removes a stale socket file, but refuses to steal one a live daemon still answers on.</summary>
    static void PrepareSocketPath(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!File.Exists(path)) return;
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, 0);
        try
        {
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
            throw new InvalidOperationException($"another daemon is listening on {path}");
        }
        catch (System.Net.Sockets.SocketException)
        {
            File.Delete(path);
        }
    }

    static void SetSocketGroup(string path)
    {
        var gid = Interop.LibC.GroupId("berth");
        if (gid is int g) Interop.LibC.Check(Interop.LibC.chown(path, 0, (uint)g), "chown", path);
    }

    async Task HandleAsync(HttpContext ctx)
    {
        var res = ctx.Response;
        res.Headers["Api-Version"] = ApiVersions.Max;
        res.Headers["Ostype"] = "linux";
        res.Headers["Server"] = ServerHeader;
        res.Headers["Docker-Experimental"] = "false";

        var path = ctx.Request.Path.Value ?? "/";
        if (path.StartsWith("/v", StringComparison.Ordinal) && path.Length > 2 && char.IsAsciiDigit(path[2]))
        {
            int slash = path.IndexOf('/', 1);
            var versionText = slash < 0 ? path[2..] : path[2..slash];
            path = slash < 0 ? "/" : path[slash..];
            if (!Version.TryParse(versionText, out var v))
            {
                await WriteErrorAsync(ctx, 404, "page not found");
                return;
            }
            if (v < MinVersion)
            {
                await WriteErrorAsync(ctx, 400, $"client version {versionText} is too old. Minimum supported API version is {ApiVersions.Min}, please upgrade your client to a newer version");
                return;
            }
            if (v > MaxVersion)
            {
                await WriteErrorAsync(ctx, 400, $"client version {versionText} is too new. Maximum supported API version is {ApiVersions.Max}");
                return;
            }
        }

        if (HttpMethods.IsOptions(ctx.Request.Method))
        {
            res.StatusCode = 200;
            return;
        }

        var match = _router.Match(ctx.Request.Method, path);
        if (match is null)
        {
            await WriteErrorAsync(ctx, 404, "page not found");
            return;
        }

        var env = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var (k, v) in ctx.Request.Query) env[k] = v.ToArray()!;
        if (ctx.Request.Headers.TryGetValue("X-Registry-Auth", out var auth)) env["@auth"] = new[] { auth.ToString() };
        if (ctx.Request.ContentType is { } ct) env["@content-type"] = new[] { ct };
        env["@method"] = new[] { ctx.Request.Method };

        var output = new HttpJobOutput(ctx);
        var job = new Job(match.Value.route.Job, match.Value.args, new JobEnv(env), ctx.Request.Body, output, ctx.RequestAborted);
        try
        {
            await _engine.RunAsync(job);
        }
        catch (Exception e)
        {
            var api = ApiException.From(e);
            if (api.StatusCode >= 500) LogInternalError(job.Name, e.ToString());
            if (!output.Started) await WriteErrorAsync(ctx, api.StatusCode, api.Message);
        }
    }

    static async Task WriteErrorAsync(HttpContext ctx, int status, string message)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse { Message = message }, ApiJson.Default.ErrorResponse);
        ctx.Response.StatusCode = status;
        // Exactly "application/json": the Go client compares the header verbatim.
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = bytes.Length + 1;
        await ctx.Response.Body.WriteAsync(bytes);
        await ctx.Response.Body.WriteAsync("\n"u8.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is null) return;
        await _app.StopAsync(TimeSpan.FromSeconds(5));
        await _app.DisposeAsync();
        foreach (var h in _options.Hosts.Where(h => h.Scheme == "unix"))
            try { File.Delete(h.Path); } catch (IOException) { }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Error, Message = "job {Job} failed: {Error}")]
    partial void LogInternalError(string job, string error);
}
