using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Api;

/// <summary>
/// Docker's AuthConfig: what the client hands the daemon in <c>X-Registry-Auth</c> (base64url JSON) and
/// in <c>POST /auth</c> (plain JSON), and what <c>~/.docker/config.json</c> keeps per registry.
/// </summary>
public sealed class AuthConfig
{
    [JsonPropertyName("username"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Username { get; set; }
    [JsonPropertyName("password"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Password { get; set; }
    [JsonPropertyName("auth"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Auth { get; set; }
    [JsonPropertyName("email"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Email { get; set; }
    [JsonPropertyName("serveraddress"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ServerAddress { get; set; }
    [JsonPropertyName("identitytoken"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? IdentityToken { get; set; }
    [JsonPropertyName("registrytoken"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? RegistryToken { get; set; }

    public static AuthConfig Anonymous => new();

    /// <summary>User and password, from the fields or from <c>auth</c> (base64 of <c>user:password</c>).</summary>
    public (string User, string Password)? Basic()
    {
        if (!string.IsNullOrEmpty(Username)) return (Username, Password ?? "");
        if (string.IsNullOrEmpty(Auth)) return null;
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(Auth));
            int colon = text.IndexOf(':');
            return colon < 0 ? null : (text[..colon], text[(colon + 1)..]);
        }
        catch (FormatException) { return null; }
    }

    /// <summary>
    /// Decodes <c>X-Registry-Auth</c> leniently, as engine-api.md §7 asks: base64url or standard base64,
    /// padded or not; empty or undecodable input means anonymous.
    /// </summary>
    public static AuthConfig FromHeader(string? header)
    {
        if (string.IsNullOrWhiteSpace(header)) return Anonymous;
        var s = header.Trim().Replace('-', '+').Replace('_', '/');
        s = s.PadRight(s.Length + (4 - s.Length % 4) % 4, '=');
        try { return JsonSerializer.Deserialize(Convert.FromBase64String(s), ApiJson.Default.AuthConfig) ?? Anonymous; }
        catch (Exception e) when (e is FormatException or JsonException) { return Anonymous; }
    }

    public string ToHeader() =>
        Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(this, ApiJson.Default.AuthConfig)).Replace('+', '-').Replace('/', '_');
}

/// <summary>POST /auth's answer.</summary>
public sealed class AuthResponse
{
    public string Status { get; set; } = "";
    public string IdentityToken { get; set; } = "";
}

/// <summary>One GET /images/search result; the wire keys are snake_case, as the v1 search API has them.</summary>
public sealed class ImageSearchResult
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("description")] public string Description { get; set; } = "";
    [JsonPropertyName("star_count")] public int StarCount { get; set; }
    [JsonPropertyName("is_official")] public bool IsOfficial { get; set; }
    [JsonPropertyName("is_automated")] public bool IsAutomated { get; set; }
}
