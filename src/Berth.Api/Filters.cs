using System.Text.Json;

namespace Berth.Api;

/// <summary>
/// The <c>filters</c> query parameter. Docker CLI 28 sends <c>{"key":{"value":true}}</c>, docker-py 5
/// the legacy <c>{"key":["value"]}</c>; both parse to key → set of values. Different keys are ANDed,
/// values of one key ORed.
/// </summary>
public sealed class Filters
{
    readonly Dictionary<string, HashSet<string>> _map = new(StringComparer.Ordinal);

    public static Filters Empty { get; } = new();

    public IEnumerable<string> Keys => _map.Keys;

    public bool Has(string key) => _map.ContainsKey(key);

    public IReadOnlyCollection<string> Get(string key) =>
        _map.TryGetValue(key, out var set) ? set : (IReadOnlyCollection<string>)Array.Empty<string>();

    public void Add(string key, string value)
    {
        if (!_map.TryGetValue(key, out var set)) _map[key] = set = new HashSet<string>(StringComparer.Ordinal);
        set.Add(value);
    }

    /// <summary>True when the key is absent or any of its values satisfies the predicate.</summary>
    public bool Match(string key, Func<string, bool> predicate) =>
        !_map.TryGetValue(key, out var set) || set.Any(predicate);

    /// <summary>Rejects keys outside <paramref name="allowed"/> with Docker's message.</summary>
    public void Validate(params string[] allowed)
    {
        foreach (var k in _map.Keys)
            if (Array.IndexOf(allowed, k) < 0) throw new FormatException($"invalid filter '{k}'");
    }

    /// <summary>Parses the query value; throws FormatException on malformed JSON.</summary>
    public static Filters Parse(string? json)
    {
        var f = new Filters();
        if (string.IsNullOrWhiteSpace(json)) return f;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new FormatException($"invalid filter: {e.Message}"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException("invalid filter: expected a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                switch (prop.Value.ValueKind)
                {
                    case JsonValueKind.Object:
                        foreach (var v in prop.Value.EnumerateObject())
                            if (v.Value.ValueKind == JsonValueKind.True) f.Add(prop.Name, v.Name);
                        break;
                    case JsonValueKind.Array:
                        foreach (var v in prop.Value.EnumerateArray())
                        {
                            if (v.ValueKind != JsonValueKind.String) throw new FormatException($"invalid filter value for '{prop.Name}'");
                            f.Add(prop.Name, v.GetString()!);
                        }
                        break;
                    default:
                        throw new FormatException($"invalid filter value for '{prop.Name}'");
                }
            }
        }
        return f;
    }

    /// <summary>The CLI 28 wire form.</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var (k, set) in _map)
            {
                w.WriteStartObject(k);
                foreach (var v in set) w.WriteBoolean(v, true);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }
}
