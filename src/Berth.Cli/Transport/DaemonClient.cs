using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Berth.Api;

namespace Berth.Cli.Transport;

/// <summary>The daemon answered with an error status; <see cref="Exception.Message"/> is its message.</summary>
public sealed class DaemonException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
    public bool IsNotFound => Status == 404;
}

/// <summary>The daemon could not be reached at all.</summary>
public sealed class DaemonUnreachableException(string host, Exception inner)
    : Exception($"Cannot connect to the Berth daemon at {host}. Is the daemon running?", inner);

/// <summary>Parses a whole reply body; throws <see cref="JsonException"/> when it is malformed.</summary>
public delegate T ReplyReader<T>(ReadOnlySpan<byte> json);

/// <summary>Query string builder; values are escaped once here.</summary>
public sealed class Query
{
    readonly StringBuilder _sb = new();

    public Query Add(string key, string? value)
    {
        if (value is null) return this;
        _sb.Append(_sb.Length == 0 ? '?' : '&').Append(Uri.EscapeDataString(key)).Append('=').Append(Uri.EscapeDataString(value));
        return this;
    }

    public Query AddIf(bool condition, string key, string value) => condition ? Add(key, value) : this;

    public override string ToString() => _sb.ToString();
}

/// <summary>
/// Talks to the daemon: negotiates the API version once (HEAD /_ping, like docker's client),
/// prefixes every path with it, and turns error statuses into <see cref="DaemonException"/>.
/// </summary>
public sealed class DaemonClient
{
    public const string ClientMaxVersion = ApiVersions.Max;

    readonly DaemonEndpoint _endpoint;
    /// <summary>The command never waits on two requests at once, so connections may block (<see cref="DaemonEndpoint.ConnectAsync"/>).</summary>
    readonly bool _sequential;
    string? _version;

    public DaemonClient(DaemonEndpoint endpoint, string? forcedVersion = null, bool sequential = false)
    {
        _endpoint = endpoint;
        _version = string.IsNullOrEmpty(forcedVersion) ? null : forcedVersion.TrimStart('v');
        _sequential = sequential;
    }

    public DaemonEndpoint Endpoint => _endpoint;

    /// <summary>The server's own maximum, once pinged (null with DOCKER_API_VERSION set).</summary>
    public string? ServerMaxVersion { get; private set; }

    public async Task<string> GetVersionAsync(CancellationToken ct = default)
    {
        if (_version is null) await NegotiateAsync(ct);
        return _version!;
    }

    async Task NegotiateAsync(CancellationToken ct)
    {
        string? apiVersion = null;
        await using (var resp = await SendRawAsync(new RawRequest { Method = "HEAD", Target = "/_ping" }, ct))
        {
            if (resp.StatusCode is 200 or 500) apiVersion = resp.Header("Api-Version");
        }
        if (apiVersion is null)
        {
            await using var resp = await SendRawAsync(new RawRequest { Method = "GET", Target = "/_ping" }, ct);
            apiVersion = resp.Header("Api-Version");
        }
        ServerMaxVersion = string.IsNullOrEmpty(apiVersion) ? "1.24" : apiVersion;
        _version = CompareVersions(ServerMaxVersion, ClientMaxVersion) < 0 ? ServerMaxVersion : ClientMaxVersion;
    }

    /// <summary>Compares dotted API versions numerically ("1.9" &lt; "1.41").</summary>
    public static int CompareVersions(string a, string b)
    {
        var pa = a.Split('.');
        var pb = b.Split('.');
        for (int i = 0; i < Math.Max(pa.Length, pb.Length); i++)
        {
            int x = i < pa.Length && int.TryParse(pa[i], out var xi) ? xi : 0;
            int y = i < pb.Length && int.TryParse(pb[i], out var yi) ? yi : 0;
            if (x != y) return x.CompareTo(y);
        }
        return 0;
    }

    async Task<RawResponse> SendRawAsync(RawRequest req, CancellationToken ct)
    {
        Stream conn;
        try { conn = await _endpoint.ConnectAsync(ct, _sequential); }
        catch (SocketException e) { throw new DaemonUnreachableException(_endpoint.Original, e); }
        catch (IOException e) when (e.InnerException is SocketException) { throw new DaemonUnreachableException(_endpoint.Original, e); }
        catch (Berth.Interop.SysException e) { throw new DaemonUnreachableException(_endpoint.Original, e); }
        try { return await HttpWire.SendAsync(conn, req, _endpoint.HostHeader, ct); }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends a versioned request. A status of 400 or more is read and thrown; anything else is
    /// returned with its body unread (callers stream it).
    /// </summary>
    public async Task<RawResponse> SendAsync(string method, string path, Query? query = null, byte[]? json = null,
        Stream? bodyStream = null, bool hijack = false, string? contentType = null, CancellationToken ct = default,
        IEnumerable<KeyValuePair<string, string>>? headers = null)
    {
        // Optimistic negotiation: without a ping, ask in our own newest version. A daemon that is older
        // says so in a 400 naming its maximum, and the request is sent again in that version. A streamed
        // body can't be sent twice, so those requests negotiate first.
        bool optimistic = _version is null && bodyStream is null;
        var version = optimistic ? ClientMaxVersion : await GetVersionAsync(ct);
        var target = "/v" + version + path + query;
        var req = new RawRequest { Method = method, Target = target, Body = json, BodyStream = bodyStream, Hijack = hijack };
        if (headers is not null) req.Headers.AddRange(headers);
        if (json is not null) req.Headers.Add(new("Content-Type", "application/json"));
        else if (contentType is not null) req.Headers.Add(new("Content-Type", contentType));
        var resp = await SendRawAsync(req, ct);
        if (resp.StatusCode < 400)
        {
            if (optimistic) _version ??= version;
            return resp;
        }
        DaemonException error;
        await using (resp) error = await ToExceptionAsync(resp, target, ct);
        if (optimistic && error.Status == 400 && ServerMaximum(error.Message) is { } max && CompareVersions(max, version) < 0)
        {
            ServerMaxVersion = max;
            _version = max;
            return await SendAsync(method, path, query, json, bodyStream, hijack, contentType, ct);
        }
        throw error;
    }

    /// <summary>The version in "client version 1.43 is too new. Maximum supported API version is 1.41".</summary>
    static string? ServerMaximum(string message)
    {
        const string marker = "Maximum supported API version is ";
        int at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return null;
        var v = message[(at + marker.Length)..].Trim().TrimEnd('.');
        return v.Length > 0 && v.All(ch => char.IsAsciiDigit(ch) || ch == '.') ? v : null;
    }

    async Task<DaemonException> ToExceptionAsync(RawResponse resp, string target, CancellationToken ct)
    {
        var body = await resp.ReadBodyAsync(ct);
        string message;
        if (body.Length == 0)
            message = $"request returned {resp.StatusCode} {resp.Reason} for API route and version http://{_endpoint.HostHeader}{target}, check if the server supports the requested API version";
        else if (resp.Header("Content-Type") == "application/json")
        {
            try { message = ReplyJson.ReadErrorMessage(body); }
            catch (JsonException e) { message = $"Error reading JSON: {e.Message}"; }
        }
        else
            message = Encoding.UTF8.GetString(body).Trim();
        return new DaemonException(resp.StatusCode, message);
    }

    public async Task<T> GetJsonAsync<T>(string path, Query? query, JsonTypeInfo<T> type, CancellationToken ct = default)
    {
        await using var resp = await SendAsync("GET", path, query, ct: ct);
        return (await JsonSerializer.DeserializeAsync(resp.Body, type, ct))!;
    }

    public async Task<T> PostJsonAsync<T>(string path, Query? query, byte[]? json, JsonTypeInfo<T> type, CancellationToken ct = default)
    {
        await using var resp = await SendAsync("POST", path, query, json, ct: ct);
        return (await JsonSerializer.DeserializeAsync(resp.Body, type, ct))!;
    }

    /// <summary>A POST whose JSON reply is read by hand (<see cref="ReplyJson"/>) rather than through serialiser metadata.</summary>
    public async Task<T> PostJsonAsync<T>(string path, Query? query, byte[]? json, ReplyReader<T> read, CancellationToken ct = default)
    {
        await using var resp = await SendAsync("POST", path, query, json, ct: ct);
        return read(await resp.ReadBodyAsync(ct));
    }

    /// <summary>A request whose reply body doesn't matter (204s, 201s with empty bodies).</summary>
    public async Task SendAndDrainAsync(string method, string path, Query? query = null, CancellationToken ct = default)
    {
        await using var resp = await SendAsync(method, path, query, ct: ct);
        await resp.Body.CopyToAsync(Stream.Null, ct);
    }

    /// <summary>The raw JSON document of a GET, for inspect and templates.</summary>
    public async Task<byte[]> GetBytesAsync(string path, Query? query = null, CancellationToken ct = default)
    {
        await using var resp = await SendAsync("GET", path, query, ct: ct);
        return await resp.ReadBodyAsync(ct);
    }

    public static string FormatInvariant(long v) => v.ToString(CultureInfo.InvariantCulture);
}
