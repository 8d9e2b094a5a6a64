namespace Berth.Graph.Drivers;

/// <summary>
/// The portable driver: every layer is a full copy of its parent plus its own changes, in
/// <c>root/vfs/dir/&lt;id&gt;</c>. Slow and large, but it needs nothing from the kernel, so it works anywhere.
/// </summary>
public sealed class VfsDriver : IGraphDriver
{
    readonly string _dirs;
    readonly MountRefs _refs = new();

    public VfsDriver(string dataRoot)
    {
        _dirs = Path.Combine(dataRoot, "vfs", "dir");
        Directory.CreateDirectory(_dirs);
    }

    public string Name => "vfs";
    public bool LayersIndependent => false;

    public IReadOnlyList<KeyValuePair<string, string>> Status => [];

    string Dir(string id) => Path.Combine(_dirs, LayerIds.Check(id));

    public void Create(string id, string? parentId)
    {
        string dir = Dir(id);
        if (Directory.Exists(dir)) throw new InvalidOperationException($"layer {id} already exists");
        if (parentId is not null && !Exists(parentId)) throw new NotFoundException($"parent layer {parentId} does not exist");
        try
        {
            Directory.CreateDirectory(dir);
            if (parentId is not null) TreeCopier.Copy(Dir(parentId), dir);
        }
        catch
        {
            FileMeta.RemoveAll(dir);
            throw;
        }
    }

    public string Mount(string id)
    {
        string dir = Dir(id);
        if (!Directory.Exists(dir)) throw new NotFoundException($"layer {id} does not exist");
        lock (_refs.Sync) _refs.Increment(id);
        return dir;
    }

    public void Unmount(string id)
    {
        lock (_refs.Sync) _refs.Decrement(id);
    }

    public void Remove(string id)
    {
        lock (_refs.Sync) _refs.Forget(id);
        FileMeta.RemoveAll(Dir(id));
    }

    public bool Exists(string id) => Directory.Exists(Dir(id));

    public long ApplyDiff(string id, Stream layerTar) => LayerTar.Apply(Dir(id), layerTar, WhiteoutMode.Delete);

    public IReadOnlyList<LayerChange> Changes(string id, string? parentId) =>
        LayerChanges.Compare(Dir(id), parentId is null ? null : Dir(parentId));

    public void WriteDiff(string id, string? parentId, Stream output) =>
        LayerChanges.WriteTar(output, Dir(id), Changes(id, parentId), overlayUpper: false);

    public IReadOnlyDictionary<string, string> Metadata(string id) => new Dictionary<string, string>();

    public IReadOnlyList<string> List() => Directory.EnumerateDirectories(_dirs).Select(Path.GetFileName).ToList()!;
}
