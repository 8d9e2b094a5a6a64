using System.Text;

namespace Berth.Cli.Transport;

/// <summary>One request. A body is either fixed bytes (sent with Content-Length) or a stream (sent chunked).</summary>
public sealed class RawRequest
{
    public required string Method { get; init; }
    /// <summary>Path and query, already escaped.</summary>
    public required string Target { get; init; }
    public List<KeyValuePair<string, string>> Headers { get; } = new();
    public ReadOnlyMemory<byte>? Body { get; init; }
    public Stream? BodyStream { get; init; }
    /// <summary>Ask for a connection upgrade (attach, exec start): the response becomes a raw duplex stream.</summary>
    public bool Hijack { get; init; }
}

/// <summary>
/// A response whose body streams from the connection; disposing it closes the connection.
/// For a hijacked request with status 101 or 200, <see cref="Hijacked"/> is the raw duplex stream.
/// </summary>
public sealed class RawResponse : IAsyncDisposable, IDisposable
{
    readonly Stream _conn;

    internal RawResponse(Stream conn, int status, string reason, Dictionary<string, string> headers, Stream body, HijackedStream? hijacked)
    {
        _conn = conn;
        StatusCode = status;
        Reason = reason;
        Headers = headers;
        Body = body;
        Hijacked = hijacked;
    }

    public int StatusCode { get; }
    public string Reason { get; }
    public IReadOnlyDictionary<string, string> Headers { get; }
    public Stream Body { get; }
    public HijackedStream? Hijacked { get; }

    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;

    public async Task<byte[]> ReadBodyAsync(CancellationToken ct = default)
    {
        using var ms = new MemoryStream();
        await Body.CopyToAsync(ms, ct);
        return ms.ToArray();
    }

    public void Dispose() => _conn.Dispose();
    public ValueTask DisposeAsync() => _conn.DisposeAsync();
}

/// <summary>A minimal HTTP/1.1 client: request line, headers, fixed or chunked bodies, and upgrades.</summary>
public static class HttpWire
{
    public static async Task<RawResponse> SendAsync(Stream conn, RawRequest req, string host, CancellationToken ct = default)
    {
        var sb = new StringBuilder(256);
        sb.Append(req.Method).Append(' ').Append(req.Target).Append(" HTTP/1.1\r\n");
        sb.Append("Host: ").Append(host).Append("\r\n");
        sb.Append("User-Agent: Berth-Client/").Append(Berth.Api.ApiVersions.BerthVersion).Append(" (linux)\r\n");
        foreach (var (k, v) in req.Headers) sb.Append(k).Append(": ").Append(v).Append("\r\n");
        if (req.Hijack) sb.Append("Connection: Upgrade\r\nUpgrade: tcp\r\n");
        if (req.BodyStream is not null) sb.Append("Transfer-Encoding: chunked\r\n");
        else if (req.Body is { } body) sb.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        else if (req.Method is "POST" or "PUT") sb.Append("Content-Length: 0\r\n");
        sb.Append("\r\n");
        var head = Encoding.UTF8.GetBytes(sb.ToString());
        if (req.Body is { Length: > 0 } fixedBody && fixedBody.Length < 64 * 1024)
        {
            // One write for small requests: fewer syscalls, and the daemon sees the whole request at once.
            var all = new byte[head.Length + fixedBody.Length];
            head.CopyTo(all, 0);
            fixedBody.CopyTo(all.AsMemory(head.Length));
            await conn.WriteAsync(all, ct);
        }
        else
        {
            await conn.WriteAsync(head, ct);
            if (req.Body is { Length: > 0 } big) await conn.WriteAsync(big, ct);
            if (req.BodyStream is not null) await WriteChunkedAsync(conn, req.BodyStream, ct);
        }
        await conn.FlushAsync(ct);
        return await ReadResponseAsync(conn, req, ct);
    }

    static async Task WriteChunkedAsync(Stream conn, Stream body, CancellationToken ct)
    {
        var buf = new byte[64 * 1024];
        int n;
        while ((n = await body.ReadAsync(buf, ct)) > 0)
        {
            await conn.WriteAsync(Encoding.ASCII.GetBytes($"{n:x}\r\n"), ct);
            await conn.WriteAsync(buf.AsMemory(0, n), ct);
            await conn.WriteAsync("\r\n"u8.ToArray(), ct);
        }
        await conn.WriteAsync("0\r\n\r\n"u8.ToArray(), ct);
    }

    static async Task<RawResponse> ReadResponseAsync(Stream conn, RawRequest req, CancellationToken ct)
    {
        var reader = new BufferedReader(conn);
        string? statusLine;
        int status;
        string reason;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (true)
        {
            statusLine = await reader.ReadLineAsync(ct) ?? throw new IOException("connection closed before the response");
            var parts = statusLine.Split(' ', 3);
            if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(parts[1], out status))
                throw new InvalidDataException($"malformed HTTP status line \"{statusLine}\"");
            reason = parts.Length == 3 ? parts[2] : "";
            headers.Clear();
            string? line;
            while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(ct)))
            {
                int colon = line.IndexOf(':');
                if (colon <= 0) throw new InvalidDataException($"malformed HTTP header \"{line}\"");
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                headers[name] = headers.TryGetValue(name, out var prev) ? prev + ", " + value : value;
            }
            if (line is null) throw new IOException("connection closed inside the response headers");
            // 100 Continue and other interim replies precede the real one; 101 is final for an upgrade.
            if (status is >= 100 and < 200 && !(status == 101 && req.Hijack)) continue;
            break;
        }

        if (req.Hijack && status is 101 or 200)
        {
            var hijacked = new HijackedStream(conn, reader);
            return new RawResponse(conn, status, reason, headers, hijacked, hijacked);
        }

        Stream body;
        if (req.Method == "HEAD" || status is 204 or 304)
            body = Stream.Null;
        else if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            body = new ChunkedStream(reader);
        else if (headers.TryGetValue("Content-Length", out var cl) && long.TryParse(cl, out var length))
            body = length == 0 ? Stream.Null : new ContentLengthStream(reader, length);
        else
            body = new UntilCloseStream(reader);
        return new RawResponse(conn, status, reason, headers, body, null);
    }
}
