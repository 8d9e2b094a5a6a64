using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Shim.Client;

/// <summary>
/// Docker's fixed-width RFC 3339 time with nine fraction digits ("2024-05-01T10:00:00.123456789Z"), used in
/// json-file logs and exit records. .NET ticks are 100 ns, so the last two digits are always zero when
/// written; more than seven digits are accepted (and truncated) when read.
/// </summary>
public static class Rfc3339Nano
{
    public static string Format(DateTime time) => Api.Timestamps.Rfc3339NanoFixed(time.ToUniversalTime());

    public static bool TryParse(string? text, out DateTime utc)
    {
        utc = default;
        if (string.IsNullOrEmpty(text)) return false;
        // Trim the fraction to the seven digits .NET can represent before handing it to the parser.
        int dot = text.IndexOf('.');
        if (dot > 0)
        {
            int end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
            if (end - dot - 1 > 7) text = string.Concat(text.AsSpan(0, dot + 8), text.AsSpan(end));
        }
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)) return false;
        utc = parsed.UtcDateTime;
        return true;
    }
}

/// <summary>Serializes a <see cref="DateTime"/> the way Docker writes times (see <see cref="Rfc3339Nano"/>).</summary>
public sealed class Rfc3339NanoConverter : JsonConverter<DateTime>
{
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Rfc3339Nano.TryParse(reader.GetString(), out var utc) ? utc : throw new JsonException("bad RFC 3339 time");

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Rfc3339Nano.Format(value));
}
