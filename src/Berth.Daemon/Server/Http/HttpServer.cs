using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Berth.Daemon.Server.Http;

public delegate Task RequestHandler(HttpRequest request, HttpResponse response);

/// <summary>
/// A small HTTP/1.1 server for the Engine API. Berth does not use Kestrel here because Kestrel
/// treats a client's FIN as an abort, while Docker's attach and exec protocols depend on
/// half-close: the CLI shuts its write side when stdin ends and keeps reading the output.
/// This server keeps the two directions apart, serves keep-alive requests, chunked streams and
/// hijacked connections, and bounds what a client can make it buffer.
/// </summary>
public sealed class HttpServer : IAsyncDisposable
{
    const int MaxHeaders = 100;
    const int MaxHeadBytes = 256 * 1024;

    readonly RequestHandler _handler;
    readonly Action<HttpResponse> _decorate;
    readonly List<Socket> _listeners = new();
    readonly CancellationTokenSource _stop = new();
    readonly List<Task> _loops = new();
    readonly HashSet<BufferedConnection> _open = new();
    readonly Action<string> _log;

    public HttpServer(RequestHandler handler, Action<HttpResponse> decorate, Action<string> log)
    {
        _handler = handler;
        _decorate = decorate;
        _log = log;
    }

    public void ListenUnix(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(path));
        s.Listen(512);
        _listeners.Add(s);
        _loops.Add(AcceptLoopAsync(s, null));
    }

    public void ListenTcp(IPAddress address, int port, SslServerAuthenticationOptions tls)
    {
        var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(address, port));
        s.Listen(512);
        _listeners.Add(s);
        _loops.Add(AcceptLoopAsync(s, tls));
    }

    /// <summary>Mutual TLS: the client must present a certificate signed by <paramref name="ca"/>.</summary>
    public static SslServerAuthenticationOptions MutualTls(X509Certificate2 serverCert, X509Certificate2Collection ca) => new()
    {
        ServerCertificate = serverCert,
        ClientCertificateRequired = true,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        RemoteCertificateValidationCallback = (_, cert, _, _) =>
        {
            if (cert is null) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(cert));
        },
    };

    async Task AcceptLoopAsync(Socket listener, SslServerAuthenticationOptions? tls)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.AcceptAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e) { _log($"accept failed: {e.Message}"); continue; }
            _ = Task.Run(() => ServeAsync(client, tls));
        }
    }

    async Task ServeAsync(Socket socket, SslServerAuthenticationOptions? tls)
    {
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        if (tls is not null)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await ssl.AuthenticateAsServerAsync(tls, timeout.Token);
            }
            catch (Exception e)
            {
                _log($"TLS handshake failed: {e.Message}");
                await ssl.DisposeAsync();
                socket.Dispose();
                return;
            }
            stream = ssl;
        }
        var conn = new BufferedConnection(socket, stream);
        lock (_open) _open.Add(conn);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                HttpRequest? request;
                try { request = await ReadRequestAsync(conn, _stop.Token); }
                catch (BadRequestException e)
                {
                    await ReplyErrorAsync(conn, e.Status, e.Message);
                    return;
                }
                if (request is null) return;

                var response = new HttpResponse(conn, request);
                _decorate(response);
                try
                {
                    await _handler(request, response);
                }
                catch (Exception e)
                {
                    // The handler maps errors itself; anything escaping it ends the connection.
                    _log($"request {request.Method} {request.Path} failed: {e.Message}");
                    return;
                }
                finally
                {
                    await response.FinishAsync();
                }
                if (!response.Reusable || !request.KeepAlive || !await DrainAsync(request.Body)) return;
            }
        }
        catch (IOException) { }
        catch (SocketException) { }
        catch (OperationCanceledException) { }
        finally
        {
            lock (_open) _open.Remove(conn);
            await conn.DisposeAsync();
        }
    }

    /// <summary>Skips what the handler left of the body, so the next request starts at its head.</summary>
    static async Task<bool> DrainAsync(Stream body)
    {
        var buf = new byte[16 * 1024];
        long total = 0;
        while (true)
        {
            int n = await body.ReadAsync(buf);
            if (n == 0) return true;
            total += n;
            if (total > 1 << 20) return false; // not worth reading; close instead
        }
    }

    static async Task ReplyErrorAsync(BufferedConnection conn, int status, string message)
    {
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Api.ErrorResponse { Message = message }, Api.ApiJson.Default.ErrorResponse);
        var head = $"HTTP/1.1 {status} Bad Request\r\nContent-Type: application/json\r\nContent-Length: {json.Length}\r\nConnection: close\r\n\r\n";
        try
        {
            await conn.Stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
            await conn.Stream.WriteAsync(json);
        }
        catch (IOException) { }
    }

    static async Task<HttpRequest?> ReadRequestAsync(BufferedConnection conn, CancellationToken ct)
    {
        string? line;
        do { line = await conn.ReadLineAsync(ct); } while (line == ""); // tolerate stray CRLFs between requests
        if (line is null) return null;
        var parts = line.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            throw new BadRequestException(400, "malformed HTTP request line");
        var method = parts[0];
        var target = parts[1];
        if (method.Length == 0 || !method.All(char.IsAsciiLetterUpper)) throw new BadRequestException(400, "malformed HTTP method");

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int headBytes = line.Length;
        while (true)
        {
            var h = await conn.ReadLineAsync(ct) ?? throw new IOException("connection closed in the request head");
            if (h.Length == 0) break;
            headBytes += h.Length;
            if (headBytes > MaxHeadBytes || headers.Count >= MaxHeaders) throw new BadRequestException(431, "request headers too large");
            int colon = h.IndexOf(':');
            if (colon <= 0) throw new BadRequestException(400, "malformed request header");
            var name = h[..colon].Trim();
            var value = h[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var prev) ? prev + ", " + value : value;
        }

        Stream body = EmptyStream.Instance;
        if (headers.TryGetValue("Transfer-Encoding", out var te))
        {
            if (!te.Equals("chunked", StringComparison.OrdinalIgnoreCase)) throw new BadRequestException(501, $"unsupported transfer encoding {te}");
            body = new ChunkedReadStream(conn);
        }
        else if (headers.TryGetValue("Content-Length", out var cl))
        {
            if (!long.TryParse(cl, System.Globalization.NumberStyles.None, null, out var length)) throw new BadRequestException(400, "malformed Content-Length");
            if (length > 0) body = new ContentLengthStream(conn, length);
        }

        int q = target.IndexOf('?');
        var path = q < 0 ? target : target[..q];
        if (path.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || path.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            path = new Uri(path).AbsolutePath;
        return new HttpRequest
        {
            Method = method,
            Path = path,
            Query = HttpRequest.ParseQuery(q < 0 ? "" : target[(q + 1)..]),
            Headers = headers,
            Body = body,
            Http10 = parts[2] == "HTTP/1.0",
        };
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var l in _listeners) l.Dispose();
        try { await Task.WhenAll(_loops); } catch (Exception) { }
        BufferedConnection[] open;
        lock (_open) open = _open.ToArray();
        foreach (var c in open) c.Socket.Dispose();
    }
}
