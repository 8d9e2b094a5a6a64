using static Berth.Graph.MetadataDb;

namespace Berth.Graph;

/// <summary>
/// The start-up integrity check. Unlike moby, which drops what it can't load without a word, every problem
/// found is reported (<see cref="Problems"/>: the daemon logs them and <c>docker info</c> shows them as
/// warnings), and only what can be repaired without guessing is repaired: leftovers of interrupted operations
/// are collected, and a layer whose driver directory vanished is extracted again from its blob.
/// </summary>
public sealed partial class ImageStore
{
    readonly List<string> _problems = [];

    /// <summary>What the start-up check found, each with what was done about it.</summary>
    public IReadOnlyList<string> Problems => _problems;

    void CheckIntegrity()
    {
        // Layers no image or container stands on can only be leftovers of a load, pull or commit a crash cut short.
        List<(string, string, string?)> leftovers;
        lock (_lock) leftovers = Db.Write((c, tx) => CollectLayers(c, tx).Select(g => (D, g.CacheId, g.Blob)).ToList());
        RemoveLayerFiles(leftovers);

        var layers = Db.Read(c =>
        {
            var list = new List<(string Chain, string? Parent, string Cache, string? Blob)>();
            using var cmd = Command(c, null, "SELECT chain_id, parent_chain_id, cache_id, blob_digest FROM layers WHERE driver = $d", ("$d", D));
            using var r = cmd.ExecuteReader();
            while (r.Read()) list.Add((r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3)));
            return list;
        });
        var byChain = layers.ToDictionary(l => l.Chain);
        var depth = new Dictionary<string, int>();
        int Depth(string chain) => depth.TryGetValue(chain, out var n) ? n
            : depth[chain] = byChain[chain].Parent is { } p && byChain.ContainsKey(p) ? Depth(p) + 1 : 0;
        foreach (var l in layers.OrderBy(l => Depth(l.Chain)))
        {
            bool hasBlob = l.Blob is not null && Content.Exists(l.Blob);
            if (!hasBlob) _problems.Add($"layer {l.Chain}: its blob {l.Blob ?? "(none recorded)"} is missing; save and push of images using it will fail");
            if (Driver.Exists(l.Cache)) continue;
            if (!hasBlob)
            {
                _problems.Add($"layer {l.Chain}: its {D} directory {l.Cache} is missing and cannot be rebuilt; containers of images using it will not start");
                continue;
            }
            try
            {
                string? parentCache = l.Parent is null ? null : byChain[l.Parent].Cache;
                Driver.Create(l.Cache, parentCache);
                using var blob = Content.Open(l.Blob!);
                using var tar = Decompression.Open(blob, out _);
                Driver.ApplyDiff(l.Cache, tar);
                _problems.Add($"layer {l.Chain}: its {D} directory {l.Cache} was missing; rebuilt from blob {l.Blob}");
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or Berth.Interop.SysException or NotFoundException)
            {
                Driver.Remove(l.Cache);
                _problems.Add($"layer {l.Chain}: its {D} directory {l.Cache} is missing and rebuilding it failed: {e.Message}");
            }
        }

        var images = Db.Read(c =>
        {
            var list = new List<string>();
            using var cmd = Command(c, null, "SELECT id FROM images WHERE driver = $d", ("$d", D));
            using var r = cmd.ExecuteReader();
            while (r.Read()) list.Add(r.GetString(0));
            return list;
        });
        foreach (var id in images)
        {
            if (!Content.Exists(id)) _problems.Add($"image {id}: its config blob is missing; the image cannot be used");
            else if (ContentStore.Digest(Content.ReadAll(id)) != id) _problems.Add($"image {id}: its config blob does not match its digest (corrupted on disk)");
        }

        var containerLayers = Db.Read(c =>
        {
            var list = new List<(string Id, string Cache)>();
            using var cmd = Command(c, null, "SELECT container_id, cache_id FROM container_layers WHERE driver = $d", ("$d", D));
            using var r = cmd.ExecuteReader();
            while (r.Read()) list.Add((r.GetString(0), r.GetString(1)));
            return list;
        });
        foreach (var (id, cache) in containerLayers)
            if (!Driver.Exists(cache)) _problems.Add($"container {id}: its read-write layer {cache} is missing; its changes are lost and it cannot start");
    }

    /// <summary>
    /// Removes container layers whose container no longer exists (a crash between forgetting a container and
    /// removing its layer), reporting each. The container records live in the daemon, so it calls this once loaded.
    /// </summary>
    public void ReconcileContainerLayers(IReadOnlySet<string> containerIds)
    {
        var orphans = Db.Read(c =>
        {
            var list = new List<string>();
            using var cmd = Command(c, null, "SELECT container_id FROM container_layers WHERE driver = $d", ("$d", D));
            using var r = cmd.ExecuteReader();
            while (r.Read()) if (!containerIds.Contains(r.GetString(0))) list.Add(r.GetString(0));
            return list;
        });
        foreach (var id in orphans)
        {
            RemoveContainerLayer(id);
            _problems.Add($"container layer {id}: no container owns it any more; removed");
        }
    }
}
