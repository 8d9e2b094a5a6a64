using System.Globalization;

namespace Berth.Api;

/// <summary>Go's time formats as Docker clients parse them.</summary>
public static class Timestamps
{
    /// <summary>Go's zero time, which inspect shows for "never".</summary>
    public const string Zero = "0001-01-01T00:00:00Z";

    /// <summary>RFC 3339 with nanoseconds and trailing zeros trimmed, like Go's RFC3339Nano.</summary>
    public static string Rfc3339Nano(DateTimeOffset t)
    {
        var utc = t.UtcDateTime;
        if (utc == DateTime.MinValue) return Zero;
        var s = utc.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture);
        long ticks = utc.Ticks % TimeSpan.TicksPerSecond;
        if (ticks != 0) s += "." + (ticks * 100).ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0');
        return s + "Z";
    }

    /// <summary>Fixed nine fraction digits, as <c>docker logs -t</c> prints.</summary>
    public static string Rfc3339NanoFixed(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture) + "." +
        ((t.UtcDateTime.Ticks % TimeSpan.TicksPerSecond) * 100).ToString("D9", CultureInfo.InvariantCulture) + "Z";

    public static DateTimeOffset Parse(string s) =>
        DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>
    /// A <c>since</c>/<c>until</c> query value: "unix-seconds[.nanos]" or RFC 3339.
    /// Returns null for an empty value; throws FormatException for garbage.
    /// </summary>
    public static DateTimeOffset? ParseQueryTime(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var parts = value.Split('.', 2);
        if (long.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var secs))
        {
            long nanos = 0;
            if (parts.Length == 2 && !long.TryParse(parts[1].PadRight(9, '0')[..9], NumberStyles.None, CultureInfo.InvariantCulture, out nanos))
                throw new FormatException($"invalid timestamp {value}");
            return DateTimeOffset.FromUnixTimeSeconds(secs).AddTicks(nanos / 100);
        }
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)) return t;
        throw new FormatException($"invalid timestamp {value}");
    }
}
