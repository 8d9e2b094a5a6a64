using System.Text.Json.Serialization;

namespace Berth.Graph;

/// <summary>
/// The "config" section of a Docker/OCI image config: the defaults a container made from the image starts
/// with. Docker's PascalCase names; absent values are omitted from the JSON.
/// </summary>
public sealed class ImageConfig
{
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public string? User { get; set; }
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    public Dictionary<string, EmptyObject>? ExposedPorts { get; set; }
    public bool Tty { get; set; }
    public bool OpenStdin { get; set; }
    public bool StdinOnce { get; set; }
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public HealthConfig? Healthcheck { get; set; }
    public bool? ArgsEscaped { get; set; }
    public string? Image { get; set; }
    public Dictionary<string, EmptyObject>? Volumes { get; set; }
    public string? WorkingDir { get; set; }
    public List<string>? Entrypoint { get; set; }
    public List<string>? OnBuild { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public string? StopSignal { get; set; }
    public int? StopTimeout { get; set; }
    public List<string>? Shell { get; set; }
}

/// <summary>Serialises as <c>{}</c>: the value type of Docker's set-like maps (ExposedPorts, Volumes).</summary>
public sealed class EmptyObject;

public sealed class HealthConfig
{
    public List<string>? Test { get; set; }
    public long Interval { get; set; }
    public long Timeout { get; set; }
    public long StartPeriod { get; set; }
    public long StartInterval { get; set; }
    public int Retries { get; set; }
}

/// <summary>The image config blob (OCI image-spec "config" media type, plus Docker's extra fields).</summary>
public sealed class ImageConfigFile
{
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "amd64";
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("comment")] public string? Comment { get; set; }
    [JsonPropertyName("config")] public ImageConfig? Config { get; set; }
    [JsonPropertyName("container")] public string? Container { get; set; }
    [JsonPropertyName("created")] public string? Created { get; set; }
    [JsonPropertyName("docker_version")] public string? DockerVersion { get; set; }
    [JsonPropertyName("history")] public List<HistoryEntry>? History { get; set; }
    [JsonPropertyName("os")] public string Os { get; set; } = "linux";
    [JsonPropertyName("parent")] public string? Parent { get; set; }
    [JsonPropertyName("rootfs")] public RootFs RootFs { get; set; } = new();
    [JsonPropertyName("variant")] public string? Variant { get; set; }
}

public sealed class RootFs
{
    [JsonPropertyName("type")] public string Type { get; set; } = "layers";
    [JsonPropertyName("diff_ids")] public List<string> DiffIds { get; set; } = [];
}

public sealed class HistoryEntry
{
    [JsonPropertyName("created")] public string? Created { get; set; }
    [JsonPropertyName("created_by")] public string? CreatedBy { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("comment")] public string? Comment { get; set; }
    [JsonPropertyName("empty_layer")] public bool? EmptyLayer { get; set; }
}

public sealed record ImageRecord(
    string Id,
    IReadOnlyList<string> RepoTags,
    IReadOnlyList<string> RepoDigests,
    DateTimeOffset Created,
    long Size,
    ImageConfig Config,
    string Architecture,
    string Os,
    IReadOnlyList<string> DiffIds,
    string? Parent,
    string? Comment,
    string? Author,
    string DockerVersion,
    string TopLayerId)
{
    /// <summary>The 12-hex short id that <c>docker images</c> shows.</summary>
    public string ShortId => Id["sha256:".Length..][..12];

    /// <summary>The image's history from its config blob (for <c>docker history</c>).</summary>
    public IReadOnlyList<HistoryEntry> History { get; init; } = [];
}

public sealed class ImportOptions
{
    /// <summary>Tag for the new image (<c>repo[:tag]</c>, <c>:latest</c> implied); null leaves it untagged.</summary>
    public string? Reference;
    public ImageConfig? Config;
    /// <summary>Stored as the image's comment and its history entry's (Docker uses "Imported from -").</summary>
    public string? Comment;
    public string? Author;
    public string Architecture = "amd64";
    public string Os = "linux";
    public string? DockerVersion;
    /// <summary>Defaults to now.</summary>
    public DateTimeOffset? Created;
}

public sealed record ImageDeleteItem(string? Untagged, string? Deleted);

/// <summary>Whether a container uses an image, and which one (its id goes into Docker's conflict message).</summary>
public readonly record struct ImageUse(ImageUseKind Kind, string? ContainerId)
{
    public static ImageUse None => default;
    public static ImageUse Stopped(string containerId) => new(ImageUseKind.StoppedContainer, containerId);
    public static ImageUse Running(string containerId) => new(ImageUseKind.RunningContainer, containerId);
}

public enum ImageUseKind { None, StoppedContainer, RunningContainer }

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageConfigFile))]
[JsonSerializable(typeof(ImageConfig))]
public sealed partial class GraphJson : JsonSerializerContext;
