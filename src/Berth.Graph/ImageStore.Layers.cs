using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Graph.References;
using static Berth.Graph.MetadataDb;

namespace Berth.Graph;

/// <summary>A layer in the Graph: its chain id (identity within a stack), diff id (its uncompressed tar's digest), bytes, and the blob it came from.</summary>
public sealed record LayerRecord(string ChainId, string DiffId, long Size, string? BlobDigest);

/// <summary>
/// Layer ingest and image registration: the machinery import, load, pull and commit share. A layer arrives as
/// a blob and goes through one streaming pass (blob file ← tee ← decompress → diff-id hash → driver); the
/// image becomes visible only when its config is registered, after all its layers exist.
/// </summary>
public sealed partial class ImageStore
{
    /// <summary>
    /// Streams one layer blob (gzip, zstd or plain tar) into the store on top of <paramref name="parentChainId"/>.
    /// The blob is hashed as received and checked against <paramref name="blobDigest"/> when given. If the
    /// resulting chain id already exists the new copy is dropped. On failure nothing is left behind.
    /// </summary>
    public Task<LayerRecord> ImportLayerAsync(Stream blob, string? parentChainId, string? blobDigest, CancellationToken ct = default) =>
        AsyncSourceStream.RunAsync(blob, s => ImportLayer(s, parentChainId, blobDigest), ct);

    /// <summary>The synchronous core of <see cref="ImportLayerAsync"/>, for sources that allow blocking reads.</summary>
    public LayerRecord ImportLayer(Stream blob, string? parentChainId, string? blobDigest) =>
        ImportLayer(blob, parentChainId, blobDigest, blobFile: null);

    /// <summary>
    /// <see cref="ImportLayer(Stream, string?, string?)"/> for a blob that is already a file under the store's temp
    /// dir (load's unpacked archive): the file itself becomes the blob, by a hard link, instead of being copied.
    /// </summary>
    public LayerRecord ImportLayerFile(string blobFile, string? parentChainId, string? blobDigest)
    {
        using var blob = File.OpenRead(blobFile);
        return ImportLayer(blob, parentChainId, blobDigest, blobFile);
    }

    LayerRecord ImportLayer(Stream blob, string? parentChainId, string? blobDigest, string? blobFile)
    {
        if (blobDigest is not null) ContentStore.Hex(blobDigest);
        string? parentCache = null;
        if (parentChainId is not null)
            parentCache = CacheIdOf(parentChainId) ?? throw new NotFoundException($"parent layer {parentChainId} does not exist");
        string cacheId = NewId();
        Driver.Create(cacheId, parentCache);
        return Record(Stage(blob, cacheId, blobDigest, blobFile), parentChainId, out _);
    }

    /// <summary>
    /// Imports a stack of layer blob files (load's unpacked archive) on top of <paramref name="parentChainId"/>, in
    /// order, and returns their records. Where the driver's layers are independent of their parents' contents
    /// (overlay2), the diffs are applied concurrently, one per core: extraction is mostly the kernel creating files,
    /// which scales across directories. Records are still written parent first, so a stack is visible only bottom up.
    /// On failure the layers this call recorded are released again.
    /// </summary>
    public IReadOnlyList<LayerRecord> ImportLayerFiles(IReadOnlyList<(string File, string? Digest)> blobs, string? parentChainId)
    {
        if (!Driver.LayersIndependent || blobs.Count < 2 || Environment.ProcessorCount < 2)
        {
            var records = new List<LayerRecord>();
            try
            {
                foreach (var (file, digest) in blobs)
                {
                    records.Add(ImportLayerFile(file, parentChainId, digest));
                    parentChainId = records[^1].ChainId;
                }
            }
            catch
            {
                ReleaseLayers(records.Select(r => r.ChainId).ToList());
                throw;
            }
            return records;
        }

        foreach (var (_, digest) in blobs) if (digest is not null) ContentStore.Hex(digest);
        string? parentCache = null;
        if (parentChainId is not null)
            parentCache = CacheIdOf(parentChainId) ?? throw new NotFoundException($"parent layer {parentChainId} does not exist");
        var cacheIds = new List<string>();
        var staged = new StagedLayer?[blobs.Count];
        try
        {
            foreach (var _ in blobs)
            {
                string id = NewId();
                Driver.Create(id, cacheIds.Count == 0 ? parentCache : cacheIds[^1]);
                cacheIds.Add(id);
            }
            Parallel.For(0, blobs.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
            {
                using var blob = File.OpenRead(blobs[i].File);
                staged[i] = Stage(blob, cacheIds[i], blobs[i].Digest, blobs[i].File);
            });
        }
        catch (AggregateException e)
        {
            DropStaged(cacheIds, staged, 0);
            // The first failure is the one to report, with its own type (a hostile tar is InvalidDataException).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            throw;
        }
        catch
        {
            DropStaged(cacheIds, staged, 0);
            throw;
        }

        var result = new List<LayerRecord>();
        var recorded = new List<string>();
        try
        {
            for (int i = 0; i < blobs.Count; i++)
            {
                LayerRecord record;
                bool fresh;
                try { record = Record(staged[i]!, parentChainId, out fresh); }
                catch
                {
                    DropStaged(cacheIds, staged, i + 1);
                    throw;
                }
                result.Add(record);
                if (fresh) recorded.Add(record.ChainId);
                if (!fresh && i + 1 < blobs.Count)
                {
                    // Another import stored this layer meanwhile, so the staged layers above it sit on a copy that
                    // is gone: drop them and stack the rest on the stored one.
                    DropStaged(cacheIds, staged, i + 1);
                    result.AddRange(ImportLayerFiles(blobs.Skip(i + 1).ToList(), record.ChainId));
                    return result;
                }
                parentChainId = record.ChainId;
            }
        }
        catch
        {
            ReleaseLayers(recorded);
            throw;
        }
        return result;
    }

    /// <summary>Removes the driver layers and unreferenced blobs of staged (not yet recorded) layers from <paramref name="from"/> on.</summary>
    void DropStaged(List<string> cacheIds, StagedLayer?[] staged, int from)
    {
        for (int i = from; i < cacheIds.Count; i++)
        {
            if (staged[i] is { } s) RemoveLayerFiles([(D, s.CacheId, s.StoredDigest)]);
            else Driver.Remove(cacheIds[i]);
        }
    }

    /// <summary>A layer whose diff is applied and whose blob is stored, but which is not yet in the GraphDB.</summary>
    sealed record StagedLayer(string CacheId, string DiffId, long Size, long TarSize, string StoredDigest);

    /// <summary>
    /// The streaming pass: the blob (tee'd into the content store, or adopted when it is already a file) is hashed,
    /// decompressed, hashed again as a tar and applied to the created layer <paramref name="cacheId"/>. On failure
    /// the driver layer is removed.
    /// </summary>
    StagedLayer Stage(Stream blob, string cacheId, string? blobDigest, string? blobFile)
    {
        try
        {
            using var writer = blobFile is null ? Content.Create() : null;
            using var blobHash = writer is null ? new HashingStream(blob) : null;
            using ReadOnlyPassThrough raw = blobHash ?? (ReadOnlyPassThrough)new TeeStream(blob, writer!);
            using var decompressed = Decompression.Open(raw, out var kind);
            // An uncompressed blob is its own tar: the blob's hash is the diff id, so one SHA-256 pass does for both.
            using var tarHash = kind == Decompression.Kind.None && blobHash is not null ? null : new HashingStream(decompressed);
            long size;
            try
            {
                size = Driver.ApplyDiff(cacheId, tarHash ?? decompressed);
                tarHash?.Drain();
                raw.Drain();
            }
            catch (Exception e) when (e is FormatException or EndOfStreamException)
            {
                throw new InvalidDataException($"invalid layer tar: {e.Message}", e);
            }
            var diffHash = tarHash ?? blobHash!;
            string storedDigest = writer?.Commit(blobDigest) ?? Content.Adopt(blobFile!, blobHash!.Digest(), blobDigest);
            return new StagedLayer(cacheId, diffHash.Digest(), size, diffHash.BytesRead, storedDigest);
        }
        catch
        {
            Driver.Remove(cacheId);
            throw;
        }
    }

    /// <summary>
    /// Writes a staged layer's GraphDB row. If its chain id is already stored (a concurrent import of the same
    /// layer) the staged copy is dropped and the stored layer returned, with <paramref name="fresh"/> false.
    /// </summary>
    LayerRecord Record(StagedLayer s, string? parentChainId, out bool fresh)
    {
        string chainId = parentChainId is null ? s.DiffId : ChainStep(parentChainId, s.DiffId);
        LayerRecord? existing;
        try
        {
            lock (_lock) existing = Db.Write((c, tx) =>
            {
                if (LoadLayer(c, tx, chainId) is { } found) return found;
                Exec(c, tx, """
                    INSERT INTO layers(driver, chain_id, diff_id, parent_chain_id, cache_id, size, blob_digest, created_at, tar_size)
                    VALUES($d, $c, $diff, $parent, $cache, $size, $blob, $now, $tar)
                    """, ("$d", D), ("$c", chainId), ("$diff", s.DiffId), ("$parent", parentChainId), ("$cache", s.CacheId),
                    ("$size", s.Size), ("$tar", s.TarSize), ("$blob", s.StoredDigest), ("$now", FormatTime(DateTimeOffset.UtcNow)));
                return null;
            });
        }
        catch
        {
            RemoveLayerFiles([(D, s.CacheId, s.StoredDigest)]);
            throw;
        }
        fresh = existing is null;
        if (existing is null) return new LayerRecord(chainId, s.DiffId, s.Size, s.StoredDigest);
        RemoveLayerFiles([(D, s.CacheId, s.StoredDigest)]);
        return existing;
    }

    /// <summary>The layer made from blob <paramref name="blobDigest"/> on <paramref name="parentChainId"/>, if the store has it.</summary>
    public LayerRecord? FindLayerByBlob(string blobDigest, string? parentChainId) => Db.Read(c =>
    {
        using var cmd = Command(c, null, """
            SELECT chain_id, diff_id, size, blob_digest FROM layers
            WHERE driver = $d AND blob_digest = $b AND parent_chain_id IS $p LIMIT 1
            """, ("$d", D), ("$b", blobDigest), ("$p", parentChainId));
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadLayer(r) : null;
    });

    public bool HasLayer(string chainId) => Db.Read(c => LoadLayer(c, null, chainId)) is not null;

    public LayerRecord? FindLayer(string chainId) => Db.Read(c => LoadLayer(c, null, chainId));

    /// <summary>The OCI chain id of a layer stack: the first diff id, then sha256("&lt;parent chain&gt; &lt;diff id&gt;") per layer.</summary>
    public static string ChainId(IReadOnlyList<string> diffIds)
    {
        if (diffIds.Count == 0) throw new ArgumentException("a chain needs at least one layer");
        string chain = diffIds[0];
        for (int i = 1; i < diffIds.Count; i++) chain = ChainStep(chain, diffIds[i]);
        return chain;
    }

    internal static string ChainStep(string parentChain, string diffId) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(parentChain + " " + diffId)));

    /// <summary>
    /// Registers an image from its config JSON (the id is the sha256 of those exact bytes). Every layer named by
    /// <c>rootfs.diff_ids</c> must exist in order. <paramref name="tags"/> are <c>repo[:tag]</c> or <c>repo@digest</c>.
    /// </summary>
    public ImageRecord RegisterImage(byte[] configJson, IReadOnlyList<string>? tags = null)
    {
        ImageConfigFile cfg;
        try
        {
            cfg = JsonSerializer.Deserialize(configJson, GraphJson.Default.ImageConfigFile)
                ?? throw new InvalidDataException("image config is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"invalid image config: {e.Message}", e);
        }
        var refs = (tags ?? []).Select(t =>
        {
            var r = Reference.Parse(t);
            return r.Digest is null ? r.WithDefaultTag() : r.NameOnly().WithDigest(r.Digest);
        }).ToList();
        var diffIds = cfg.RootFs?.DiffIds ?? [];
        string? topChain = diffIds.Count == 0 ? null : ChainId(diffIds);
        DateTimeOffset created;
        try { created = cfg.Created is { Length: > 0 } ct ? ParseTime(ct) : DateTimeOffset.UnixEpoch; }
        catch (FormatException e) { throw new InvalidDataException($"invalid image config: created {cfg.Created}: {e.Message}", e); }

        string imageId = Content.Put(configJson);
        lock (_lock)
        {
            Db.Write((c, tx) =>
            {
                long size = 0;
                string? chain = null;
                foreach (var diffId in diffIds)
                {
                    chain = chain is null ? diffId : ChainStep(chain, diffId);
                    var layer = LoadLayer(c, tx, chain)
                        ?? throw new InvalidDataException($"image config names layer {diffId}, which the store does not have on this chain");
                    size += layer.Size;
                }
                string? parent = cfg.Parent is { Length: > 0 } p &&
                    Scalar(c, tx, "SELECT 1 FROM images WHERE driver = $d AND id = $id", ("$d", D), ("$id", p)) is not null ? p : null;
                Exec(c, tx, """
                    INSERT OR IGNORE INTO images(driver, id, top_chain_id, parent_id, created, size)
                    VALUES($d, $id, $c, $parent, $created, $size)
                    """, ("$d", D), ("$id", imageId), ("$c", topChain), ("$parent", parent), ("$created", FormatTime(created)), ("$size", size));
                foreach (var r in refs) SetRef(c, tx, r, imageId);
            });
        }
        return Find(imageId) ?? throw new InvalidOperationException($"image {imageId} vanished right after it was registered");
    }

    /// <summary>The image config exactly as stored (its sha256 is the image id).</summary>
    public byte[] GetConfigBytes(string imageId) => Content.ReadAll(Get(imageId).Id);

    /// <summary>
    /// The layer's contents as an uncompressed tar with Docker whiteouts, byte for byte the tar its diff id
    /// names: the stored blob, decompressed on the fly when it arrived compressed.
    /// </summary>
    public Stream OpenLayerTar(string chainId)
    {
        var layer = FindLayer(chainId) ?? throw new NotFoundException($"layer {chainId} does not exist");
        if (layer.BlobDigest is null || !Content.Exists(layer.BlobDigest))
            throw new NotFoundException($"layer {chainId}: its blob {layer.BlobDigest} is missing from the store");
        return Decompression.Open(Content.Open(layer.BlobDigest), out _);
    }

    /// <summary>The length of <see cref="OpenLayerTar"/>'s stream (counted by reading it for layers stored before it was recorded).</summary>
    public long LayerTarSize(string chainId)
    {
        if (Db.Read(c => Scalar(c, null, "SELECT tar_size FROM layers WHERE driver = $d AND chain_id = $c", ("$d", D), ("$c", chainId))) is long n)
            return n;
        using var tar = OpenLayerTar(chainId);
        using var counter = new HashingStream(tar);
        counter.Drain();
        return counter.BytesRead;
    }

    /// <summary>
    /// Forgets the given layers (top first) where nothing uses them: no image, container layer or child layer.
    /// Undoes the layers a failed load imported, without touching ones that something else now stands on.
    /// </summary>
    public void ReleaseLayers(IReadOnlyList<string> chainIds)
    {
        if (chainIds.Count == 0) return;
        List<(string, string, string?)> doomed;
        lock (_lock)
        {
            doomed = Db.Write((c, tx) =>
            {
                var gone = new List<(string, string, string?)>();
                foreach (var chain in chainIds.Reverse())
                {
                    bool used = Scalar(c, tx, """
                        SELECT 1 FROM images WHERE driver = $d AND top_chain_id = $c
                        UNION ALL SELECT 1 FROM container_layers WHERE driver = $d AND parent_chain_id = $c
                        UNION ALL SELECT 1 FROM layers WHERE driver = $d AND parent_chain_id = $c LIMIT 1
                        """, ("$d", D), ("$c", chain)) is not null;
                    if (used) continue;
                    using (var cmd = Command(c, tx, "SELECT cache_id, blob_digest FROM layers WHERE driver = $d AND chain_id = $c", ("$d", D), ("$c", chain)))
                    using (var r = cmd.ExecuteReader())
                        if (r.Read()) gone.Add((D, r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)));
                    Exec(c, tx, "DELETE FROM layers WHERE driver = $d AND chain_id = $c", ("$d", D), ("$c", chain));
                }
                return gone;
            });
        }
        RemoveLayerFiles(doomed);
    }

    /// <summary>The image's layers by chain id, with their sizes (for prune's reclaimed space and df's shared size).</summary>
    public IReadOnlyDictionary<string, long> LayerSizes(string imageId)
    {
        var img = Get(imageId);
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        string? chain = null;
        foreach (var diffId in img.DiffIds)
        {
            chain = chain is null ? diffId : ChainStep(chain, diffId);
            if (FindLayer(chain) is { } l) result[chain] = l.Size;
        }
        return result;
    }

    string? CacheIdOf(string chainId) => Db.Read(c =>
        Scalar(c, null, "SELECT cache_id FROM layers WHERE driver = $d AND chain_id = $c", ("$d", D), ("$c", chainId)) as string);

    LayerRecord? LoadLayer(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction? tx, string chainId)
    {
        using var cmd = Command(c, tx, "SELECT chain_id, diff_id, size, blob_digest FROM layers WHERE driver = $d AND chain_id = $c",
            ("$d", D), ("$c", chainId));
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadLayer(r) : null;
    }

    static LayerRecord ReadLayer(Microsoft.Data.Sqlite.SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetInt64(2), r.IsDBNull(3) ? null : r.GetString(3));
}
