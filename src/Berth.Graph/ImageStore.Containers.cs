using System.IO.Pipelines;
using System.Text.Json;
using Berth.Graph.Drivers;
using static Berth.Graph.MetadataDb;

namespace Berth.Graph;

/// <summary>What <c>docker commit</c> records besides the container's changes.</summary>
public sealed class CommitOptions
{
    public ImageConfig Config = new();
    public string? Comment;
    public string? Author;
    /// <summary>The history entry's <c>created_by</c>: the container's command, as Docker writes it.</summary>
    public string? CreatedBy;
    public string? DockerVersion;
    /// <summary><c>repo[:tag]</c> for the new image; null leaves it untagged.</summary>
    public string? Reference;
}

/// <summary>
/// A container layer seen as content: its changes (<c>docker diff</c>), its whole filesystem (<c>docker export</c>)
/// and a new image made from it (<c>docker commit</c>), which goes through the same ingest as a pulled layer.
/// </summary>
public sealed partial class ImageStore
{
    (string CacheId, string? ParentChain, string ImageId) ContainerLayer(string containerId) => Db.Read(c =>
    {
        using var cmd = Command(c, null, "SELECT cache_id, parent_chain_id, image_id FROM container_layers WHERE container_id = $id AND driver = $d",
            ("$id", containerId), ("$d", D));
        using var r = cmd.ExecuteReader();
        if (!r.Read()) throw new NotFoundException($"No such container: {containerId}");
        return (r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2));
    });

    public IReadOnlyList<LayerChange> ContainerChanges(string containerId)
    {
        var (cache, parentChain, _) = ContainerLayer(containerId);
        return Driver.Changes(cache, parentChain is null ? null : CacheIdOf(parentChain));
    }

    /// <summary>Bytes the container's layer adds (Docker's SizeRw): the sizes of its added and modified non-directories.</summary>
    public long ContainerLayerSize(string containerId)
    {
        var changes = ContainerChanges(containerId);
        if (changes.Count == 0) return 0;
        string root = MountContainer(containerId);
        try
        {
            long size = 0;
            foreach (var ch in changes)
                if (ch.Kind != ChangeKind.Deleted && Berth.Interop.LibC.TryLStat(root + ch.Path, out var st) && st.FileType != Berth.Interop.LibC.S_IFDIR)
                    size += (long)st.Size;
            return size;
        }
        finally { UnmountContainer(containerId); }
    }

    /// <summary>Writes the container's whole filesystem as a tar: its layer mounted over the image's.</summary>
    public void ExportContainer(string containerId, Stream output)
    {
        string root = MountContainer(containerId);
        try { LayerChanges.WriteTree(output, root); }
        finally { UnmountContainer(containerId); }
    }

    /// <summary>
    /// A new image: the container's image plus one layer holding the container's changes. The diff is
    /// streamed through a pipe straight into the layer ingest, so it is never staged on disk twice.
    /// </summary>
    public ImageRecord CommitContainer(string containerId, CommitOptions options)
    {
        var tags = options.Reference is null ? null : new[] { ParseTagReference(options.Reference).ToString() };
        var (cache, parentChain, imageId) = ContainerLayer(containerId);
        var baseConfig = JsonSerializer.Deserialize(Content.ReadAll(imageId), GraphJson.Default.ImageConfigFile)
            ?? throw new InvalidDataException($"image config {imageId} is empty");
        string? parentCache = parentChain is null ? null : CacheIdOf(parentChain);

        var pipe = new Pipe();
        var producer = Task.Run(() =>
        {
            // Completed explicitly: a failure must reach the reader as an error, not as a clean end of the tar.
            try
            {
                Driver.WriteDiff(cache, parentCache, pipe.Writer.AsStream(leaveOpen: true));
                pipe.Writer.Complete();
            }
            catch (Exception e)
            {
                pipe.Writer.Complete(e);
            }
        });
        LayerRecord layer;
        try
        {
            using var tar = pipe.Reader.AsStream();
            layer = ImportLayer(tar, parentChain, null);
        }
        finally
        {
            pipe.Reader.Complete();
            producer.Wait();
        }

        string created = FormatTime(DateTimeOffset.UtcNow);
        var config = new ImageConfigFile
        {
            Architecture = baseConfig.Architecture,
            Os = baseConfig.Os,
            Variant = baseConfig.Variant,
            Author = options.Author,
            Comment = options.Comment,
            Config = options.Config,
            Container = containerId,
            Created = created,
            DockerVersion = options.DockerVersion,
            Parent = imageId,
            History = [.. baseConfig.History ?? [],
                new HistoryEntry { Created = created, CreatedBy = options.CreatedBy, Author = options.Author, Comment = options.Comment }],
            RootFs = new RootFs { DiffIds = [.. baseConfig.RootFs.DiffIds, layer.DiffId] },
        };
        try
        {
            return RegisterImage(JsonSerializer.SerializeToUtf8Bytes(config, GraphJson.Default.ImageConfigFile), tags);
        }
        catch
        {
            ReleaseLayers([layer.ChainId]);
            throw;
        }
    }
}
