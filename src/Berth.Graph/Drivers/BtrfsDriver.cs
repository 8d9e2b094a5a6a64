using Berth.Interop;
using Microsoft.Win32.SafeHandles;

namespace Berth.Graph.Drivers;

/// <summary>
/// btrfs layers, laid out as Docker's btrfs driver: every layer is a subvolume
/// <c>root/btrfs/subvolumes/&lt;id&gt;</c>, a child is a writable snapshot of its parent. A snapshot shares all
/// extents with its parent, so a layer costs only what it changes and creating one is constant time, while
/// the mounted path is the subvolume itself (no mount, like vfs). Changes compare the layer with its
/// parent's subvolume, which keeps every untouched file's metadata because snapshots copy nothing.
/// The data root must be on btrfs; quotas are not used.
/// </summary>
public sealed class BtrfsDriver : IGraphDriver
{
    readonly string _subvolumes;
    readonly MountRefs _refs = new();

    public BtrfsDriver(string dataRoot)
    {
        if (!Probe(dataRoot, out var reason)) throw new ArgumentException($"storage driver btrfs is not supported on {dataRoot}: {reason}");
        _subvolumes = Path.Combine(dataRoot, "btrfs", "subvolumes");
        Directory.CreateDirectory(_subvolumes);
    }

    /// <summary>True when <paramref name="dataRoot"/> is on a btrfs filesystem.</summary>
    public static bool Probe(string dataRoot, out string reason)
    {
        Directory.CreateDirectory(dataRoot);
        if (LibC.Statfs(dataRoot, out var st) != 0)
        {
            reason = SysException.FromLastError("statfs", dataRoot).Message;
            return false;
        }
        reason = st.Type == LibC.BTRFS_SUPER_MAGIC ? "" : $"the backing filesystem is not btrfs (magic 0x{st.Type:x})";
        return reason.Length == 0;
    }

    public string Name => "btrfs";
    public bool LayersIndependent => false;

    public IReadOnlyList<KeyValuePair<string, string>> Status => [new("Backing Filesystem", "btrfs")];

    string Dir(string id) => Path.Combine(_subvolumes, LayerIds.Check(id));

    public void Create(string id, string? parentId)
    {
        if (Directory.Exists(Dir(id))) throw new InvalidOperationException($"layer {id} already exists");
        if (parentId is not null && !Exists(parentId)) throw new NotFoundException($"parent layer {parentId} does not exist");
        // Both ioctls are atomic: a crash leaves either a whole subvolume or none.
        using var home = OpenDir(_subvolumes);
        if (parentId is null)
        {
            LibC.BtrfsSubvolCreate(Fd(home), id);
            return;
        }
        using var parent = OpenDir(Dir(parentId));
        LibC.BtrfsSnapshotCreate(Fd(parent), Fd(home), id);
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
        if (!Directory.Exists(Dir(id))) return;
        using var home = OpenDir(_subvolumes);
        LibC.BtrfsSubvolDestroy(Fd(home), id);
    }

    public bool Exists(string id) => Directory.Exists(Dir(id));

    public long ApplyDiff(string id, Stream layerTar) => LayerTar.Apply(Dir(id), layerTar, WhiteoutMode.Delete);

    public IReadOnlyList<LayerChange> Changes(string id, string? parentId) =>
        LayerChanges.Compare(Dir(id), parentId is null ? null : Dir(parentId));

    public void WriteDiff(string id, string? parentId, Stream output) =>
        LayerChanges.WriteTar(output, Dir(id), Changes(id, parentId), overlayUpper: false);

    public IReadOnlyDictionary<string, string> Metadata(string id) => new Dictionary<string, string>();

    public IReadOnlyList<string> List() => Directory.EnumerateDirectories(_subvolumes).Select(Path.GetFileName).ToList()!;

    static int Fd(SafeFileHandle h) => (int)h.DangerousGetHandle();

    static SafeFileHandle OpenDir(string path) =>
        new(LibC.Check(LibC.Open(path, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC), "open", path), ownsHandle: true);
}
