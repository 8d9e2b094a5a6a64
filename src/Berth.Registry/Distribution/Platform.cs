using System.Text.Json.Serialization;

namespace Berth.Registry.Distribution;

/// <summary>An OCI platform (<c>os/arch[/variant]</c>) and the rule for picking one from an index.</summary>
public sealed class Platform
{
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "";
    [JsonPropertyName("os")] public string Os { get; set; } = "";
    [JsonPropertyName("variant"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Variant { get; set; }
    [JsonPropertyName("os.version"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? OsVersion { get; set; }

    public static Platform Default => new() { Os = "linux", Architecture = "amd64" };

    /// <summary>Parses <c>linux</c>, <c>linux/arm64</c>, <c>linux/arm/v7</c>; normalises the aliases Docker accepts.</summary>
    public static Platform Parse(string? s)
    {
        if (string.IsNullOrWhiteSpace(s)) return Default;
        var parts = s.Trim().ToLowerInvariant().Split('/');
        if (parts.Length > 3 || parts.Any(p => p.Length == 0))
            throw new ArgumentException($"\"{s}\": unknown operating system or architecture: invalid argument");
        var p = new Platform { Os = parts[0], Architecture = parts.Length > 1 ? parts[1] : "amd64", Variant = parts.Length > 2 ? parts[2] : null };
        (p.Architecture, p.Variant) = p.Architecture switch
        {
            "x86_64" or "x86-64" => ("amd64", p.Variant),
            "aarch64" => ("arm64", p.Variant == "v8" ? null : p.Variant),
            "arm64" => ("arm64", p.Variant == "v8" ? null : p.Variant),
            "armhf" => ("arm", "v7"),
            "armel" => ("arm", "v6"),
            "i386" => ("386", p.Variant),
            var a => (a, p.Variant),
        };
        return p;
    }

    /// <summary>Whether an index entry's platform serves this one (a missing variant on either side matches any).</summary>
    public bool Matches(Platform? other) =>
        other is not null && other.Os == Os && other.Architecture == Architecture
        && (Variant is null || other.Variant is null || other.Variant == Variant);

    public override string ToString() => Os + "/" + Architecture + (Variant is null ? "" : "/" + Variant);
}
