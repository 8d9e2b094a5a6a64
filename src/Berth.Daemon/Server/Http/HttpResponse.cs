using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Berth.Daemon.Engine;

namespace Berth.Daemon.Server.Http;

/// <summary>
/// The reply to one request, written straight to the connection. It is the job's stdout
/// (<see cref="IJobOutput"/>): a whole JSON value, a chunked stream flushed per write, or the raw
/// connection after a hijack.
/// </summary>
public sealed class HttpResponse : IJobOutput
{
    readonly BufferedConnection _conn;
    readonly HttpRequest _request;
    readonly CancellationTokenSource _aborted = new();
    ChunkedWriteStream? _chunked;

    internal HttpResponse(BufferedConnection conn, HttpRequest request)
    {
        _conn = conn;
        _request = request;
    }

    /// <summary>Headers sent with every reply (the daemon's Api-Version, Server, ...).</summary>
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
    public bool Started { get; private set; }
    public bool Hijacked { get; private set; }
    /// <summary>Whether the connection can carry another request after this reply.</summary>
    internal bool Reusable => !Hijacked && _chunked is null;
    /// <summary>Fires when a client waiting on a streamed reply goes away.</summary>
    public CancellationToken Aborted => _aborted.Token;

    static string Reason(int status) => status switch
    {
        101 => "UPGRADED", 200 => "OK", 201 => "Created", 204 => "No Content", 304 => "Not Modified",
        400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found", 409 => "Conflict",
        413 => "Payload Too Large", 431 => "Request Header Fields Too Large", 500 => "Internal Server Error",
        501 => "Not Implemented", 503 => "Service Unavailable", _ => "Status",
    };

    async Task WriteHeadAsync(int status, IEnumerable<KeyValuePair<string, string>> extra)
    {
        if (Started) throw new InvalidOperationException("the reply has already started");
        Started = true;
        var sb = new StringBuilder(256);
        sb.Append("HTTP/1.1 ").Append(status.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Reason(status)).Append("\r\n");
        foreach (var (k, v) in Headers.Concat(extra)) sb.Append(k).Append(": ").Append(v).Append("\r\n");
        sb.Append("Date: ").Append(DateTime.UtcNow.ToString("r", CultureInfo.InvariantCulture)).Append("\r\n\r\n");
        await _conn.Stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    public async Task BytesAsync(int status, string contentType, byte[] body)
    {
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Content-Type", contentType),
            new("Content-Length", body.Length.ToString(CultureInfo.InvariantCulture)),
        };
        await WriteHeadAsync(status, headers);
        if (_request.Method != "HEAD") await _conn.Stream.WriteAsync(body);
        await _conn.Stream.FlushAsync();
    }

    public Task JsonAsync<T>(int status, T value, JsonTypeInfo<T> type)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, type);
        Array.Resize(ref bytes, bytes.Length + 1);
        bytes[^1] = (byte)'\n';
        return BytesAsync(status, "application/json", bytes);
    }

    public async Task EmptyAsync(int status)
    {
        await WriteHeadAsync(status, status is 204 or 304 ? [] : [new("Content-Length", "0")]);
        await _conn.Stream.FlushAsync();
    }

    public Task TextAsync(int status, string text, string contentType = "text/plain; charset=utf-8") =>
        BytesAsync(status, contentType, Encoding.UTF8.GetBytes(text));

    public async Task<Stream> StreamAsync(string contentType)
    {
        await WriteHeadAsync(200, [new("Content-Type", contentType), new("Transfer-Encoding", "chunked")]);
        await _conn.Stream.FlushAsync();
        _chunked = new ChunkedWriteStream(_conn.Stream);
        WatchForDisconnect();
        return _chunked;
    }

    /// <summary>
    /// Docker's hijack: 101 UPGRADED when the client asked for an upgrade, else 200 with no
    /// framing; afterwards the connection is a raw byte stream both ways.
    /// </summary>
    public async Task<Stream> HijackAsync(string contentType)
    {
        if (_request.WantsUpgrade)
            await WriteHeadAsync(101, [new("Content-Type", contentType), new("Connection", "Upgrade"), new("Upgrade", "tcp")]);
        else
            await WriteHeadAsync(200, [new("Content-Type", contentType)]);
        await _conn.Stream.FlushAsync();
        Hijacked = true;
        return _conn.Hijack();
    }

    /// <summary>
    /// A streamed reply's client sends nothing more, so a read that ends means it went away;
    /// long waits (wait, logs -f, events) then stop instead of holding resources forever.
    /// </summary>
    void WatchForDisconnect()
    {
        _ = Task.Run(async () =>
        {
            var probe = new byte[1];
            try
            {
                while (await _conn.ReadAsync(probe, _aborted.Token) > 0) { }
            }
            catch (Exception) { }
            _aborted.Cancel();
        });
    }

    internal async Task FinishAsync()
    {
        if (_chunked is not null)
        {
            try { await _chunked.EndAsync(); await _conn.Stream.FlushAsync(); }
            catch (IOException) { }
        }
        _aborted.Cancel();
    }
}
