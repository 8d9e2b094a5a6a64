using System.Text.Json;
using System.Text.Json.Serialization;

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

/// <summary><c>POST /images/prune</c>'s reply.</summary>
public sealed class ImagePruneReport
{
    public List<ImageDeleteResponseItem>? ImagesDeleted { get; set; }
    public long SpaceReclaimed { get; set; }
}

/// <summary><c>POST /containers/prune</c>'s reply.</summary>
public sealed class ContainerPruneReport
{
    public List<string>? ContainersDeleted { get; set; }
    public long SpaceReclaimed { get; set; }
}

/// <summary>One row of <c>GET /containers/{id}/changes</c>: Kind 0 = modified, 1 = added, 2 = deleted.</summary>
public sealed class FilesystemChange
{
    public string Path { get; set; } = "";
    public int Kind { get; set; }
}

/// <summary><c>POST /commit</c>'s reply (201).</summary>
public sealed class CommitResponse
{
    public string Id { get; set; } = "";
}

/// <summary>
/// <c>GET /system/df</c>. Volumes are listed by the volume service when it exists; until then the list is
/// empty. BuildCache must be <c>[]</c>, not null.
/// </summary>
public sealed class DiskUsage
{
    public long LayersSize { get; set; }
    public List<ImageSummary> Images { get; set; } = new();
    public List<ContainerSummary> Containers { get; set; } = new();
    public List<JsonElement> Volumes { get; set; } = new();
    public List<JsonElement> BuildCache { get; set; } = new();
    public long BuilderSize { get; set; }
}

/// <summary>Serialisers for the image and storage replies above; kept beside them so they stay one unit.</summary>
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(ImagePruneReport))]
[JsonSerializable(typeof(ContainerPruneReport))]
[JsonSerializable(typeof(List<FilesystemChange>))]
[JsonSerializable(typeof(CommitResponse))]
[JsonSerializable(typeof(DiskUsage))]
public sealed partial class ImagesJson : JsonSerializerContext;
