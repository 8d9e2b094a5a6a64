using System.Globalization;
using System.Text.RegularExpressions;
using Berth.Api;

namespace Berth.Daemon.Images;

/// <summary>The filter values prune (and image listing) share with Docker: <c>label</c> matching and <c>until</c> times.</summary>
public static partial class PruneFilters
{
    /// <summary><c>key</c> matches when the label exists, <c>key=value</c> when it has that value.</summary>
    public static bool MatchLabel(IReadOnlyDictionary<string, string>? labels, string filter)
    {
        if (labels is null) return false;
        var kv = filter.Split('=', 2);
        return labels.TryGetValue(kv[0], out var v) && (kv.Length == 1 || v == kv[1]);
    }

    /// <summary>Whether the labels pass <c>label</c> (all must match) and <c>label!</c> (none may).</summary>
    public static bool MatchLabels(Filters filters, IReadOnlyDictionary<string, string>? labels) =>
        filters.Get("label").All(v => MatchLabel(labels, v)) && !filters.Get("label!").Any(v => MatchLabel(labels, v));

    /// <summary>
    /// An <c>until</c> value as Docker takes it: a Go duration before now (<c>24h</c>, <c>1h30m</c>), unix
    /// seconds, or an RFC 3339 time. Null when the filter is absent.
    /// </summary>
    public static DateTimeOffset? Until(Filters filters, DateTimeOffset now)
    {
        var value = filters.Get("until").FirstOrDefault();
        if (value is null) return null;
        var m = GoDuration().Match(value);
        if (m.Success && value.Length > 0)
        {
            double seconds = 0;
            foreach (Capture c in m.Groups["part"].Captures)
            {
                var unit = c.Value.TrimStart('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.');
                double n = double.Parse(c.Value[..^unit.Length], CultureInfo.InvariantCulture);
                seconds += n * unit switch { "h" => 3600, "m" => 60, "s" => 1, "ms" => 1e-3, "us" or "µs" => 1e-6, _ => 1e-9 };
            }
            return now - TimeSpan.FromSeconds(seconds);
        }
        try { return Timestamps.ParseQueryTime(value); }
        catch (FormatException) { throw new FormatException($"invalid filter 'until={value}'"); }
    }

    [GeneratedRegex(@"^(?<part>[0-9]+(\.[0-9]+)?(h|ms|m|s|us|µs|ns))+$")]
    private static partial Regex GoDuration();
}
