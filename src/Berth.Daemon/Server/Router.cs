namespace Berth.Daemon.Server;

/// <summary>
/// The route table: method + URL template → job name. Templates use <c>{x}</c> for one path
/// segment and <c>{x*}</c> for a greedy run of segments (image names contain '/' and ':'), which
/// matches by prefix and suffix: <c>/images/{name*}/json</c> takes everything between.
/// </summary>
public sealed class Router
{
    readonly List<Route> _routes = new();

    public void Add(string method, string template, string job) => _routes.Add(new Route(method, template, job));

    public IReadOnlyList<Route> Routes => _routes;

    /// <summary>Finds the route for an unversioned path; null when none matches (404 page not found).</summary>
    public (Route route, string[] args)? Match(string method, string path)
    {
        var segments = path.Trim('/').Split('/', StringSplitOptions.None);
        if (segments.Length == 1 && segments[0] == "") segments = Array.Empty<string>();
        foreach (var r in _routes)
        {
            if (!string.Equals(r.Method, method, StringComparison.OrdinalIgnoreCase)
                && !(method == "HEAD" && r.Method == "GET" && r.AllowHead)) continue;
            var args = r.Match(segments);
            if (args is not null) return (r, args);
        }
        return null;
    }
}

public sealed class Route
{
    readonly string[] _parts;
    readonly int _greedy = -1;

    public string Method { get; }
    public string Template { get; }
    public string Job { get; }
    /// <summary>GET routes also answer HEAD (Go's mux does not, but clients probe with HEAD only where listed).</summary>
    public bool AllowHead { get; init; }

    public Route(string method, string template, string job)
    {
        Method = method;
        Template = template;
        Job = job;
        _parts = template.Trim('/').Split('/');
        for (int i = 0; i < _parts.Length; i++)
            if (_parts[i].EndsWith("*}", StringComparison.Ordinal))
            {
                if (_greedy >= 0) throw new ArgumentException($"two greedy parameters in {template}");
                _greedy = i;
            }
    }

    static bool IsParam(string part) => part.StartsWith('{');

    public string[]? Match(string[] segs)
    {
        var args = new List<string>();
        if (_greedy < 0)
        {
            if (segs.Length != _parts.Length) return null;
            for (int i = 0; i < _parts.Length; i++)
            {
                if (IsParam(_parts[i])) { if (segs[i].Length == 0) return null; args.Add(Uri.UnescapeDataString(segs[i])); }
                else if (!string.Equals(_parts[i], segs[i], StringComparison.Ordinal)) return null;
            }
            return args.ToArray();
        }
        int before = _greedy, after = _parts.Length - _greedy - 1;
        if (segs.Length < before + after + 1) return null;
        for (int i = 0; i < before; i++)
        {
            if (IsParam(_parts[i])) args.Add(Uri.UnescapeDataString(segs[i]));
            else if (!string.Equals(_parts[i], segs[i], StringComparison.Ordinal)) return null;
        }
        var greedy = string.Join('/', segs[before..(segs.Length - after)]);
        if (greedy.Length == 0) return null;
        args.Add(Uri.UnescapeDataString(greedy));
        for (int i = 0; i < after; i++)
        {
            var part = _parts[_greedy + 1 + i];
            var seg = segs[segs.Length - after + i];
            if (IsParam(part)) args.Add(Uri.UnescapeDataString(seg));
            else if (!string.Equals(part, seg, StringComparison.Ordinal)) return null;
        }
        return args.ToArray();
    }
}
