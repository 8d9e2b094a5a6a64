namespace Berth.Api;

/// <summary>One row of <c>GET /images/json</c>.</summary>
public sealed class ImageSummary
{
    public string Id { get; set; } = "";
    public string ParentId { get; set; } = "";
    public List<string> RepoTags { get; set; } = new();
    public List<string> RepoDigests { get; set; } = new();
    public long Created { get; set; }
    public long Size { get; set; }
    public long SharedSize { get; set; } = -1;
    public long VirtualSize { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public long Containers { get; set; } = -1;
}

public sealed class RootFs
{
    public string Type { get; set; } = "layers";
    public List<string> Layers { get; set; } = new();
}

public sealed class ImageMetadata
{
    public string LastTagTime { get; set; } = Timestamps.Zero;
}

/// <summary><c>GET /images/{name}/json</c>.</summary>
public sealed class ImageInspect
{
    public string Id { get; set; } = "";
    public List<string> RepoTags { get; set; } = new();
    public List<string> RepoDigests { get; set; } = new();
    public string Parent { get; set; } = "";
    public string Comment { get; set; } = "";
    public string Created { get; set; } = Timestamps.Zero;
    public string DockerVersion { get; set; } = "";
    public string Author { get; set; } = "";
    public ContainerConfig Config { get; set; } = new();
    public string Architecture { get; set; } = "amd64";
    public string Os { get; set; } = "linux";
    public long Size { get; set; }
    public long VirtualSize { get; set; }
    public GraphDriverData GraphDriver { get; set; } = new();
    public RootFs RootFS { get; set; } = new();
    public ImageMetadata Metadata { get; set; } = new();
}

/// <summary>One row of the <c>DELETE /images/{name}</c> reply.</summary>
public sealed class ImageDeleteResponseItem
{
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Untagged { get; set; }
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Deleted { get; set; }
}

/// <summary>One row of <c>GET /images/{name}/history</c>.</summary>
public sealed class ImageHistoryItem
{
    public string Id { get; set; } = "";
    public long Created { get; set; }
    public string CreatedBy { get; set; } = "";
    public List<string>? Tags { get; set; }
    public long Size { get; set; }
    public string Comment { get; set; } = "";
}
