using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Berth.Registry.Tests;

/// <summary>
/// A tiny in-test HTTP server on 127.0.0.1 whose every answer the test decides: a route table from
/// <c>METHOD path</c> to a handler, plus a log of requests, so tests can serve garbage, cut bodies short,
/// challenge for tokens and check what the client sent.
/// </summary>
public sealed class FakeRegistry : IDisposable
{
    readonly HttpListener _listener = new();
    readonly ConcurrentDictionary<string, Func<HttpListenerContext, Task>> _routes = new();
    readonly Task _loop;

    public FakeRegistry()
    {
        for (int attempt = 0; ; attempt++)
        {
            Port = FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try { _listener.Start(); break; }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _loop = Task.Run(LoopAsync);
        Route("GET /v2/", ctx => Reply(ctx, 200, "{}", "application/json"));
    }

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public ConcurrentQueue<(string Method, string Path, WebHeaderCollection Headers)> Requests { get; } = new();

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public void Route(string key, Func<HttpListenerContext, Task> handler) => _routes[key] = handler;

    async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                var path = ctx.Request.Url!.AbsolutePath;
                Requests.Enqueue((ctx.Request.HttpMethod, path, (WebHeaderCollection)ctx.Request.Headers));
                try
                {
                    if (_routes.TryGetValue(ctx.Request.HttpMethod + " " + path, out var h)) await h(ctx);
                    else await Reply(ctx, 404, """{"errors":[{"code":"NOT_FOUND","message":"not here"}]}""", "application/json");
                }
                catch (Exception) { try { ctx.Response.Abort(); } catch (Exception) { } }
            });
        }
    }

    public static async Task Reply(HttpListenerContext ctx, int status, byte[] body, string contentType, Dictionary<string, string>? headers = null)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        foreach (var (k, v) in headers ?? new()) ctx.Response.Headers[k] = v;
        ctx.Response.ContentLength64 = body.Length;
        if (ctx.Request.HttpMethod != "HEAD") await ctx.Response.OutputStream.WriteAsync(body);
        ctx.Response.Close();
    }

    public static Task Reply(HttpListenerContext ctx, int status, string body, string contentType, Dictionary<string, string>? headers = null) =>
        Reply(ctx, status, System.Text.Encoding.UTF8.GetBytes(body), contentType, headers);

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}
