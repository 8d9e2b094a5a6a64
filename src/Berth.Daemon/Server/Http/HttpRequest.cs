namespace Berth.Daemon.Server.Http;

/// <summary>One parsed HTTP/1.1 request: what the router and jobs need, nothing more.</summary>
public sealed class HttpRequest
{
    public required string Method { get; init; }
    /// <summary>The path, percent-decoding left to the router (segments may contain %2F).</summary>
    public required string Path { get; init; }
    public required Dictionary<string, string[]> Query { get; init; }
    public required Dictionary<string, string> Headers { get; init; }
    public required Stream Body { get; init; }
    public bool Http10 { get; init; }

    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;

    /// <summary>The client asked to take over the connection (Docker's attach/exec: <c>Upgrade: tcp</c>).</summary>
    public bool WantsUpgrade =>
        Header("Upgrade") is { Length: > 0 } && (Header("Connection") ?? "").Contains("upgrade", StringComparison.OrdinalIgnoreCase);

    public bool KeepAlive =>
        !(Header("Connection") ?? "").Contains("close", StringComparison.OrdinalIgnoreCase) &&
        (!Http10 || (Header("Connection") ?? "").Contains("keep-alive", StringComparison.OrdinalIgnoreCase));

    public static Dictionary<string, string[]> ParseQuery(string query)
    {
        var lists = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            var key = Unescape(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Unescape(pair[(eq + 1)..]);
            if (!lists.TryGetValue(key, out var list)) lists[key] = list = new List<string>();
            list.Add(value);
        }
        return lists.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);
    }

    static string Unescape(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));
}

/// <summary>A request the server refuses before any job runs (malformed, too large).</summary>
public sealed class BadRequestException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
