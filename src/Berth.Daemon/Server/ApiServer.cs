using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Daemon.Server.Http;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon.Server;

/// <summary>
/// The daemon's Server role: the Engine API on the unix socket (and TCP only with mutual TLS),
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
    HttpServer? _http;

    public ApiServer(DaemonOptions options, Engine.Engine engine, ILoggerFactory loggers)
    {
        _options = options;
        _engine = engine;
        _log = loggers.CreateLogger("Berth.Server");
    }

    public IReadOnlyList<Route> Routes => _router.Routes;

    /// <summary>The <c>serveapi</c> job: binds every listener and starts serving.</summary>
    public void Start()
    {
        _http = new HttpServer(HandleAsync, Decorate, m => LogConnection(m));
        foreach (var host in _options.Hosts)
        {
            switch (host.Scheme)
            {
                case "unix":
                    PrepareSocketPath(host.Path);
                    // Sockets are born 0660 rather than chmod-ed after a window of wider access.
                    var oldMask = Interop.LibC.umask(0b001_001_111 /* 0117 */);
                    try { _http.ListenUnix(host.Path); }
                    finally { Interop.LibC.umask(oldMask); }
                    SetSocketGroup(host.Path);
                    break;
                case "tcp":
                    var ip = host.Address is "" or "0.0.0.0" ? IPAddress.Any : IPAddress.Parse(host.Address);
                    _http.ListenTcp(ip, host.Port, HttpServer.MutualTls(LoadServerCertificate(), LoadCa()));
                    break;
                default:
                    throw new ArgumentException($"unsupported host scheme {host.Scheme}");
            }
        }
    }

    X509Certificate2 LoadServerCertificate()
    {
        using var cert = X509Certificate2.CreateFromPemFile(_options.TlsCert!, _options.TlsKey!);
        // An ephemeral key from PEM can't serve TLS on Linux until it is re-imported.
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    X509Certificate2Collection LoadCa()
    {
        var ca = new X509Certificate2Collection();
        ca.ImportFromPemFile(_options.TlsCaCert!);
        return ca;
    }

    static void Decorate(HttpResponse r)
    {
        r.Headers["Api-Version"] = ApiVersions.Max;
        r.Headers["Ostype"] = "linux";
        r.Headers["Server"] = ServerHeader;
        r.Headers["Docker-Experimental"] = "false";
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

    async Task HandleAsync(HttpRequest req, HttpResponse res)
    {
        var path = req.Path;
        if (path.StartsWith("/v", StringComparison.Ordinal) && path.Length > 2 && char.IsAsciiDigit(path[2]))
        {
            int slash = path.IndexOf('/', 1);
            var versionText = slash < 0 ? path[2..] : path[2..slash];
            path = slash < 0 ? "/" : path[slash..];
            if (!Version.TryParse(versionText, out var v))
            {
                await WriteErrorAsync(res, 404, "page not found");
                return;
            }
            if (v < MinVersion)
            {
                await WriteErrorAsync(res, 400, $"client version {versionText} is too old. Minimum supported API version is {ApiVersions.Min}, please upgrade your client to a newer version");
                return;
            }
            if (v > MaxVersion)
            {
                await WriteErrorAsync(res, 400, $"client version {versionText} is too new. Maximum supported API version is {ApiVersions.Max}");
                return;
            }
        }

        if (req.Method == "OPTIONS")
        {
            await res.EmptyAsync(200);
            return;
        }

        var match = _router.Match(req.Method, path);
        if (match is null)
        {
            await WriteErrorAsync(res, 404, "page not found");
            return;
        }

        var env = new Dictionary<string, string[]>(req.Query, StringComparer.Ordinal);
        if (req.Header("X-Registry-Auth") is { } auth) env["@auth"] = [auth];
        if (req.Header("Content-Type") is { } ct) env["@content-type"] = [ct];
        env["@method"] = [req.Method];

        var job = new Job(match.Value.route.Job, match.Value.args, new JobEnv(env), req.Body, res, res.Aborted);
        try
        {
            await _engine.RunAsync(job);
        }
        catch (Exception e)
        {
            var api = ApiException.From(e);
            if (api.StatusCode >= 500) LogInternalError(job.Name, e.ToString());
            if (!res.Started) await WriteErrorAsync(res, api.StatusCode, api.Message);
        }
    }

    static Task WriteErrorAsync(HttpResponse res, int status, string message) =>
        // Exactly "application/json": the Go client compares the header verbatim.
        res.JsonAsync(status, new ErrorResponse { Message = message }, ApiJson.Default.ErrorResponse);

    public async ValueTask DisposeAsync()
    {
        if (_http is null) return;
        await _http.DisposeAsync();
        foreach (var h in _options.Hosts.Where(h => h.Scheme == "unix"))
            try { File.Delete(h.Path); } catch (IOException) { }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Error, Message = "job {Job} failed: {Error}")]
    partial void LogInternalError(string job, string error);

    [LoggerMessage(EventId = 201, Level = LogLevel.Debug, Message = "connection: {Message}")]
    partial void LogConnection(string message);
}
