using System.Globalization;

namespace Berth.Api;

/// <summary>
/// Docker's human-readable units (the go-units package): durations such as "About a minute",
/// decimal sizes such as "4.26MB" and binary sizes such as "23.54GiB", formatted with Go's %g.
/// </summary>
public static class Units
{
    static readonly string[] DecimalAbbrs = { "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB" };
    static readonly string[] BinaryAbbrs = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB" };

    public static string HumanDuration(TimeSpan d)
    {
        long seconds = (long)d.TotalSeconds;
        if (seconds < 1) return "Less than a second";
        if (seconds == 1) return "1 second";
        if (seconds < 60) return $"{seconds} seconds";
        long minutes = (long)d.TotalMinutes;
        if (minutes == 1) return "About a minute";
        if (minutes < 60) return $"{minutes} minutes";
        long hours = (long)(d.TotalHours + 0.5);
        if (hours == 1) return "About an hour";
        if (hours < 48) return $"{hours} hours";
        if (hours < 24 * 7 * 2) return $"{hours / 24} days";
        if (hours < 24 * 30 * 2) return $"{hours / 24 / 7} weeks";
        if (hours < 24 * 365 * 2) return $"{hours / 24 / 30} months";
        return $"{(long)d.TotalHours / 24 / 365} years";
    }

    /// <summary>Decimal size with <paramref name="precision"/> significant digits (docker images uses 3, HumanSize 4).</summary>
    public static string HumanSize(double size, int precision = 4) => Custom(size, 1000.0, DecimalAbbrs, precision);

    public static string BytesSize(double size) => Custom(size, 1024.0, BinaryAbbrs, 4);

    static string Custom(double size, double unitBase, string[] abbrs, int precision)
    {
        int i = 0;
        while (size >= unitBase && i < abbrs.Length - 1)
        {
            size /= unitBase;
            i++;
        }
        return FormatG(size, precision) + abbrs[i];
    }

    /// <summary>Go's <c>%.{precision}g</c>: significant digits, trailing zeros dropped, exponent form for large or tiny values.</summary>
    public static string FormatG(double v, int precision)
    {
        if (v == 0) return "0";
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "+Inf" : "-Inf";
        var e = v.ToString("E" + (precision - 1), CultureInfo.InvariantCulture);
        int ePos = e.IndexOf('E');
        int exp = int.Parse(e[(ePos + 1)..], CultureInfo.InvariantCulture);
        if (exp < -4 || exp >= precision)
        {
            var mantissa = TrimZeros(e[..ePos]);
            return $"{mantissa}e{(exp < 0 ? '-' : '+')}{Math.Abs(exp):00}";
        }
        return TrimZeros(v.ToString("F" + Math.Max(0, precision - 1 - exp), CultureInfo.InvariantCulture));
    }

    static string TrimZeros(string s) => s.Contains('.') ? s.TrimEnd('0').TrimEnd('.') : s;
}
