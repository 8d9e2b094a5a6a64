using System.Text.Json.Serialization;

namespace Berth.Registry.Distribution;

/// <summary>A content descriptor: what a manifest says about one blob or child manifest.</summary>
public sealed class Descriptor
{
    [JsonPropertyName("mediaType")] public string MediaType { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("digest")] public string Digest { get; set; } = "";
    [JsonPropertyName("urls"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Urls { get; set; }
    [JsonPropertyName("annotations"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("platform"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Platform? Platform { get; set; }
}

/// <summary>
/// Every manifest shape a registry may answer with, read into one type: an image manifest (Docker schema2
/// or OCI) has <see cref="Config"/> and <see cref="Layers"/>, an index or manifest list has
/// <see cref="Manifests"/>, and a schema1 manifest shows itself by <see cref="SchemaVersion"/> 1.
/// </summary>
public sealed class Manifest
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; }
    [JsonPropertyName("mediaType"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? MediaType { get; set; }
    [JsonPropertyName("config"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Descriptor? Config { get; set; }
    [JsonPropertyName("layers"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<Descriptor>? Layers { get; set; }
    [JsonPropertyName("manifests"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<Descriptor>? Manifests { get; set; }
}

/// <summary>The parts of an image config the registry code reads: the diff ids and the platform.</summary>
public sealed class ConfigHead
{
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("os")] public string? Os { get; set; }
    [JsonPropertyName("variant")] public string? Variant { get; set; }
    [JsonPropertyName("rootfs")] public ConfigRootFs? RootFs { get; set; }
}

public sealed class ConfigRootFs
{
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("diff_ids")] public List<string>? DiffIds { get; set; }
}

/// <summary>A token endpoint's answer (distribution's token spec: <c>token</c>, or OAuth's <c>access_token</c>).</summary>
public sealed class TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; set; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; set; }
    [JsonPropertyName("expires_in")] public int ExpiresIn { get; set; }
    [JsonPropertyName("refresh_token")] public string? RefreshToken { get; set; }
}

/// <summary>The registry's error body: <c>{"errors":[{"code","message","detail"}]}</c>.</summary>
public sealed class ErrorBody
{
    [JsonPropertyName("errors")] public List<ErrorEntry>? Errors { get; set; }
}

public sealed class ErrorEntry
{
    [JsonPropertyName("code")] public string? Code { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
}

/// <summary>A page of <c>GET /v2/NAME/tags/list</c>.</summary>
public sealed class TagList
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("tags")] public List<string>? Tags { get; set; }
}

/// <summary>The v1 search API's answer.</summary>
public sealed class SearchResults
{
    [JsonPropertyName("num_results")] public int NumResults { get; set; }
    [JsonPropertyName("query")] public string? Query { get; set; }
    [JsonPropertyName("results")] public List<Berth.Api.ImageSearchResult> Results { get; set; } = new();
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(Manifest))]
[JsonSerializable(typeof(ConfigHead))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(SearchResults))]
[JsonSerializable(typeof(TagList))]
public sealed partial class RegistryJson : JsonSerializerContext;
