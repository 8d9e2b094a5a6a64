using System.Security.Cryptography;
using System.Text.Json;
using Berth.Graph.Drivers;
using Berth.Graph.References;
using Microsoft.Data.Sqlite;
using static Berth.Graph.MetadataDb;

namespace Berth.Graph;

/// <summary>
/// The Graph: images, their layers and their names. Layer content lives in the graph driver, blobs (layer
/// tars as received, image configs) in the <see cref="ContentStore"/>, and the relations (which layer sits on
/// which, which image a tag names, which layers containers stand on) in the GraphDB.
/// </summary>
/// <remarks>
/// Crash safety comes from ordering: content is written first (driver dir, then blobs via temp+rename),
/// then one DB transaction makes it visible. Deletion runs the other way: one transaction forgets, then the
/// files go. Whatever a crash leaves between the two is unreferenced and swept at the next <see cref="Open"/>.
/// </remarks>
public sealed partial class ImageStore : IDisposable
{
    readonly string _dataRoot;
    readonly Lock _lock = new();

    ImageStore(string dataRoot, ContentStore content, MetadataDb db, IGraphDriver driver)
    {
        _dataRoot = dataRoot;
        Content = content;
        Db = db;
        Driver = driver;
    }

    public IGraphDriver Driver { get; }
    public MetadataDb Db { get; }
    public ContentStore Content { get; }
    public string DataRoot => _dataRoot;

    string D => Driver.Name;

    public static ImageStore Open(string dataRoot, string? driverName)
    {
        dataRoot = Path.GetFullPath(dataRoot);
        Directory.CreateDirectory(dataRoot);
        var driver = GraphDrivers.Create(dataRoot, driverName);
        var content = new ContentStore(dataRoot);
        // Whatever tmp holds before the store opens was left by an earlier process. Not the process start time as
        // the cutoff: .NET derives it from boot time and clock ticks, and it came out earlier than the mtime of a
        // temp blob a SIGKILLed daemon wrote just before the restart, which then survived.
        content.CleanTemp(DateTime.UtcNow);
        var db = MetadataDb.Open(Path.Combine(dataRoot, "berth.db"));
        try
        {
            db.Migrate(GraphSchema.Component, GraphSchema.Steps);
            var store = new ImageStore(dataRoot, content, db, driver);
            store.SweepUnrecordedLayers();
            store.CheckIntegrity();
            store.SweepUnrecordedBlobs();
            return store;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>Removes driver layers no DB row names: an import or container create cut short by a crash.</summary>
    void SweepUnrecordedLayers()
    {
        var known = Db.Read(c =>
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            using var cmd = Command(c, null,
                "SELECT cache_id FROM layers WHERE driver = $d UNION SELECT cache_id FROM container_layers WHERE driver = $d", ("$d", D));
            using var r = cmd.ExecuteReader();
            while (r.Read()) set.Add(r.GetString(0));
            return set;
        });
        foreach (var id in Driver.List())
            if (!known.Contains(id)) Driver.Remove(id);
    }

    /// <summary>
    /// Removes blobs no layer or image row (of any driver: the blob store is shared) names: a blob is installed
    /// before the row that records it and deleted after the row goes, so a crash in between strands it.
    /// Every writer of the content store records what it writes in the GraphDB; that is what makes this safe.
    /// </summary>
    void SweepUnrecordedBlobs()
    {
        var known = Db.Read(c =>
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            using var cmd = Command(c, null, "SELECT blob_digest FROM layers WHERE blob_digest IS NOT NULL UNION SELECT id FROM images");
            using var r = cmd.ExecuteReader();
            while (r.Read()) set.Add(r.GetString(0));
            return set;
        });
        foreach (var digest in Content.List())
            if (!known.Contains(digest)) Content.Delete(digest);
    }

    // ---- import -------------------------------------------------------------------------------

    /// <summary><c>docker import</c>: one layer from a rootfs tar, and an image config made from <paramref name="options"/>.</summary>
    public ImageRecord Import(Stream tar, ImportOptions options)
    {
        var tags = options.Reference is null ? null : new[] { ParseTagReference(options.Reference).ToString() };
        var layer = ImportLayer(tar, null, null);
        var created = (options.Created ?? DateTimeOffset.UtcNow).ToUniversalTime();
        string createdText = FormatTime(created);
        var config = new ImageConfigFile
        {
            Architecture = options.Architecture,
            Os = options.Os,
            Author = options.Author,
            Comment = options.Comment,
            Config = options.Config ?? new ImageConfig(),
            Created = createdText,
            DockerVersion = options.DockerVersion,
            History = [new HistoryEntry { Created = createdText, Author = options.Author, Comment = options.Comment }],
            RootFs = new RootFs { DiffIds = [layer.DiffId] },
        };
        return RegisterImage(JsonSerializer.SerializeToUtf8Bytes(config, GraphJson.Default.ImageConfigFile), tags);
    }

    /// <summary>
    /// <see cref="Import"/> for sources that must be read asynchronously (an HTTP request body): the source is
    /// pumped through a small bounded buffer while extraction runs on a worker thread.
    /// </summary>
    public Task<ImageRecord> ImportAsync(Stream tar, ImportOptions options, CancellationToken ct = default) =>
        AsyncSourceStream.RunAsync(tar, s => Import(s, options), ct);

    // ---- queries ------------------------------------------------------------------------------

    /// <summary>Every image, newest first: two queries (images with their top layer, then all names), not a few per image.</summary>
    public IReadOnlyList<ImageRecord> List() => Db.Read(c =>
    {
        var rows = new List<ImageRow>();
        using (var cmd = Command(c, null, ImageRowQuery + " WHERE i.driver = $d ORDER BY i.created DESC, i.id", ("$d", D)))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) rows.Add(ReadImageRow(r));
        var names = new Dictionary<string, (List<string> Tags, List<string> Digests)>(StringComparer.Ordinal);
        using (var cmd = Command(c, null, "SELECT image_id, name, kind FROM refs WHERE driver = $d ORDER BY created_at, name", ("$d", D)))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
            {
                if (!names.TryGetValue(r.GetString(0), out var n)) names[r.GetString(0)] = n = ([], []);
                (r.GetString(2) == "tag" ? n.Tags : n.Digests).Add(Reference.Parse(r.GetString(1)).FamiliarString);
            }
        return rows.Select(row => names.TryGetValue(row.Id, out var n) ? ToRecord(row, n.Tags, n.Digests) : ToRecord(row, [], [])).ToList();
    });

    public ImageRecord? Find(string refOrId) => Db.Read(c => Resolve(c, refOrId) is { } id ? Load(c, id) : null);

    /// <summary>Like <see cref="Find"/> but throws Docker's <c>No such image: &lt;ref&gt;</c>.</summary>
    public ImageRecord Get(string refOrId) => Find(refOrId) ?? throw NoSuchImage(refOrId);

    /// <summary>Docker's lookup order: a full id, then a name (tag or digest), then a unique id prefix.</summary>
    string? Resolve(SqliteConnection c, string refOrId)
    {
        if (refOrId.Length == 0) return null;
        if (Reference.IsFullImageId(refOrId))
        {
            string id = refOrId.StartsWith("sha256:", StringComparison.Ordinal) ? refOrId : "sha256:" + refOrId;
            return Scalar(c, null, "SELECT id FROM images WHERE driver = $d AND id = $id", ("$d", D), ("$id", id)) as string;
        }
        if (Reference.TryParse(refOrId, out var r, out _) &&
            Scalar(c, null, "SELECT image_id FROM refs WHERE driver = $d AND name = $n", ("$d", D), ("$n", r.WithDefaultTag().ToString())) is string byName)
            return byName;
        string prefix = refOrId.StartsWith("sha256:", StringComparison.Ordinal) ? refOrId[7..] : refOrId;
        if (prefix.Length == 0 || prefix.Length > 64 || prefix.AsSpan().ContainsAnyExcept("0123456789abcdef")) return null;
        var matches = new List<string>();
        using (var cmd = Command(c, null,
            "SELECT id FROM images WHERE driver = $d AND substr(id, 8, $n) = $p LIMIT 2", ("$d", D), ("$n", prefix.Length), ("$p", prefix)))
        using (var rd = cmd.ExecuteReader())
            while (rd.Read()) matches.Add(rd.GetString(0));
        if (matches.Count > 1)
        {
            long n = (long)Scalar(c, null, "SELECT count(*) FROM images WHERE driver = $d AND substr(id, 8, $n) = $p",
                ("$d", D), ("$n", prefix.Length), ("$p", prefix))!;
            throw new AmbiguousReferenceException(refOrId, (int)n);
        }
        return matches.Count == 1 ? matches[0] : null;
    }

    const string ImageRowQuery = """
        SELECT i.id, i.top_chain_id, i.parent_id, i.created, i.size, l.cache_id FROM images i
        LEFT JOIN layers l ON l.driver = i.driver AND l.chain_id = i.top_chain_id
        """;

    sealed record ImageRow(string Id, string? Parent, string Created, long Size, string TopLayer);

    static ImageRow ReadImageRow(SqliteDataReader r) =>
        new(r.GetString(0), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3), r.GetInt64(4),
            r.IsDBNull(1) ? "" : r.GetString(5));

    ImageRecord? Load(SqliteConnection c, string id)
    {
        ImageRow row;
        using (var cmd = Command(c, null, ImageRowQuery + " WHERE i.driver = $d AND i.id = $id", ("$d", D), ("$id", id)))
        using (var r = cmd.ExecuteReader())
        {
            if (!r.Read()) return null;
            row = ReadImageRow(r);
        }
        var tags = new List<string>();
        var digests = new List<string>();
        using (var cmd = Command(c, null, "SELECT name, kind FROM refs WHERE driver = $d AND image_id = $id ORDER BY created_at, name", ("$d", D), ("$id", id)))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                (r.GetString(1) == "tag" ? tags : digests).Add(Reference.Parse(r.GetString(0)).FamiliarString);
        return ToRecord(row, tags, digests);
    }

    ImageRecord ToRecord(ImageRow row, List<string> tags, List<string> digests)
    {
        var cfg = JsonSerializer.Deserialize(Content.ReadAll(row.Id), GraphJson.Default.ImageConfigFile)
            ?? throw new InvalidDataException($"image config {row.Id} is empty");
        return new ImageRecord(row.Id, tags, digests, ParseTime(row.Created),
            row.Size, cfg.Config ?? new ImageConfig(), cfg.Architecture, cfg.Os, cfg.RootFs.DiffIds, row.Parent, cfg.Comment, cfg.Author,
            cfg.DockerVersion ?? "", row.TopLayer)
        { History = cfg.History ?? [] };
    }

    // ---- tags ---------------------------------------------------------------------------------

    public void Tag(string refOrId, string newReference)
    {
        var r = ParseTagReference(newReference);
        lock (_lock)
        {
            var img = Get(refOrId);
            Db.Write((c, tx) => SetRef(c, tx, r, img.Id));
        }
    }

    /// <summary>Records <c>repo@sha256:…</c> (a pulled manifest's digest) for an image; it shows in RepoDigests.</summary>
    public void AddDigestReference(string refOrId, string canonicalReference)
    {
        var r = Reference.Parse(canonicalReference);
        if (r.Digest is null)
            throw new InvalidReferenceException($"invalid reference format: {canonicalReference} has no digest");
        r = r.NameOnly().WithDigest(r.Digest);
        lock (_lock)
        {
            var img = Get(refOrId);
            Db.Write((c, tx) => SetRef(c, tx, r, img.Id));
        }
    }

    static Reference ParseTagReference(string s)
    {
        var r = Reference.Parse(s);
        if (r.Digest is not null) throw new InvalidReferenceException("refusing to create a tag with a digest reference");
        return r.WithDefaultTag();
    }

    void SetRef(SqliteConnection c, SqliteTransaction tx, Reference r, string imageId)
    {
        string now = FormatTime(DateTimeOffset.UtcNow);
        Exec(c, tx, """
            INSERT INTO refs(driver, name, repository, kind, image_id, created_at) VALUES($d, $n, $repo, $k, $id, $now)
            ON CONFLICT(driver, name) DO UPDATE SET image_id = excluded.image_id, created_at = excluded.created_at
            """, ("$d", D), ("$n", r.ToString()), ("$repo", r.Name), ("$k", r.Digest is null ? "tag" : "digest"), ("$id", imageId), ("$now", now));
        Exec(c, tx, "UPDATE images SET last_tag_time = $now WHERE driver = $d AND id = $id", ("$d", D), ("$id", imageId), ("$now", now));
    }

    // ---- delete -------------------------------------------------------------------------------

    /// <summary>Docker's <c>rmi</c> rules (moby <c>daemon/images/image_delete.go</c>); see engine-api.md §5.6.</summary>
    public IReadOnlyList<ImageDeleteItem> Delete(string refOrId, bool force, Func<string, ImageUse> usage)
    {
        var records = new List<ImageDeleteItem>();
        List<(string Driver, string CacheId, string? Blob)> doomed;
        lock (_lock)
        {
            var img = Get(refOrId);
            string shortId = img.ShortId;
            var refs = Db.Read(c => RefsOf(c, null, img.Id));
            var use = usage(img.Id);

            if (!IsIdPrefix(img.Id, refOrId))
            {
                var named = Reference.Parse(refOrId).WithDefaultTag();
                if (!force && IsSingleReference(refs) && use.Kind != ImageUseKind.None)
                    throw new ConflictException(
                        $"conflict: unable to remove repository reference \"{refOrId}\" (must force) - container {Short(use.ContainerId)} is using its referenced image {shortId}");
                var untag = new List<Reference> { named };
                var remaining = refs.Where(r => r.ToString() != named.ToString()).ToList();
                // Dropping a repository's last tag also drops that repository's digest references.
                if (named.Digest is null && !remaining.Any(r => r.Digest is null && r.Name == named.Name))
                {
                    untag.AddRange(remaining.Where(r => r.Name == named.Name));
                    remaining.RemoveAll(r => r.Name == named.Name);
                }
                Db.Write((c, tx) => { foreach (var r in untag) RemoveRef(c, tx, r); });
                records.AddRange(untag.Select(r => new ImageDeleteItem(r.FamiliarString, null)));
                if (remaining.Count > 0) return records;
            }
            else if (refs.Count > 1 && !IsSingleReference(refs) && !force)
                throw new ConflictException($"conflict: unable to delete {shortId} (must be forced) - image is referenced in multiple repositories");

            CheckConflicts(img.Id, shortId, use, force);
            doomed = Db.Write((c, tx) =>
            {
                foreach (var r in RefsOf(c, tx, img.Id))
                {
                    RemoveRef(c, tx, r);
                    records.Add(new ImageDeleteItem(r.FamiliarString, null));
                }
                Exec(c, tx, "DELETE FROM images WHERE driver = $d AND id = $id", ("$d", D), ("$id", img.Id));
                records.Add(new ImageDeleteItem(null, img.Id));
                var gone = CollectLayers(c, tx);
                records.AddRange(gone.Select(g => new ImageDeleteItem(null, g.ChainId)));
                return gone.Select(g => (D, g.CacheId, g.Blob)).ToList();
            });
            DeleteUnusedConfigBlob(img.Id);
        }
        RemoveLayerFiles(doomed);
        return records;
    }

    /// <summary>
    /// Children and running containers are hard conflicts (force can't override); stopped containers are soft.
    /// Tags are handled by the caller (they are untagged along with the image).
    /// </summary>
    void CheckConflicts(string imageId, string shortId, ImageUse use, bool force)
    {
        bool hasChildren = Db.Read(c => Scalar(c, null, "SELECT 1 FROM images WHERE driver = $d AND parent_id = $id LIMIT 1",
            ("$d", D), ("$id", imageId)) is not null);
        if (hasChildren)
            throw new ConflictException($"conflict: unable to delete {shortId} (cannot be forced) - image has dependent child images");
        if (use.Kind == ImageUseKind.RunningContainer)
            throw new ConflictException($"conflict: unable to delete {shortId} (cannot be forced) - image is being used by running container {Short(use.ContainerId)}");
        if (!force && use.Kind == ImageUseKind.StoppedContainer)
            throw new ConflictException($"conflict: unable to delete {shortId} (must be forced) - image is being used by stopped container {Short(use.ContainerId)}");
    }

    List<Reference> RefsOf(SqliteConnection c, SqliteTransaction? tx, string imageId)
    {
        var list = new List<Reference>();
        using var cmd = Command(c, tx, "SELECT name FROM refs WHERE driver = $d AND image_id = $id ORDER BY created_at, name", ("$d", D), ("$id", imageId));
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(Reference.Parse(r.GetString(0)));
        return list;
    }

    void RemoveRef(SqliteConnection c, SqliteTransaction tx, Reference r) =>
        Exec(c, tx, "DELETE FROM refs WHERE driver = $d AND name = $n", ("$d", D), ("$n", r.ToString()));

    /// <summary>At most one tag, and every digest reference in that tag's repository (moby's isSingleReference).</summary>
    static bool IsSingleReference(List<Reference> refs)
    {
        if (refs.Count <= 1) return refs.Count == 1;
        var tags = refs.Where(r => r.Digest is null).ToList();
        if (tags.Count > 1) return false;
        var canonicalRepos = refs.Where(r => r.Digest is not null).Select(r => r.Name).ToHashSet();
        string single = (tags.Count == 1 ? tags[0] : refs[0]).Name;
        return canonicalRepos.Count == 1 && canonicalRepos.Contains(single);
    }

    static bool IsIdPrefix(string imageId, string s) =>
        s.Length > 0 && (imageId.StartsWith(s, StringComparison.Ordinal) || imageId.AsSpan(7).StartsWith(s, StringComparison.Ordinal));

    static string Short(string? id)
    {
        if (id is null) return "";
        if (id.StartsWith("sha256:", StringComparison.Ordinal)) id = id[7..];
        return id.Length > 12 ? id[..12] : id;
    }

    /// <summary>Deletes layer rows no image or container stands on; returns them for file removal after commit.</summary>
    List<(string ChainId, string CacheId, string? Blob)> CollectLayers(SqliteConnection c, SqliteTransaction tx)
    {
        var gone = new List<(string, string, string?)>();
        using (var cmd = Command(c, tx, """
            WITH RECURSIVE live(chain_id) AS (
                SELECT top_chain_id FROM images WHERE driver = $d AND top_chain_id IS NOT NULL
                UNION SELECT parent_chain_id FROM container_layers WHERE driver = $d AND parent_chain_id IS NOT NULL
                UNION SELECT l.parent_chain_id FROM layers l JOIN live ON l.chain_id = live.chain_id
                      WHERE l.driver = $d AND l.parent_chain_id IS NOT NULL)
            SELECT chain_id, cache_id, blob_digest FROM layers
            WHERE driver = $d AND chain_id NOT IN (SELECT chain_id FROM live)
            """, ("$d", D)))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) gone.Add((r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2)));
        // Children before parents, so each delete keeps the parent foreign key satisfied.
        var order = gone.Select(g => g.Item1).ToList();
        foreach (var chain in Enumerable.Reverse(TopoOrder(c, tx, order)))
            Exec(c, tx, "DELETE FROM layers WHERE driver = $d AND chain_id = $c", ("$d", D), ("$c", chain));
        return gone;
    }

    /// <summary>Orders chain ids parents-first.</summary>
    List<string> TopoOrder(SqliteConnection c, SqliteTransaction tx, List<string> chains)
    {
        var set = chains.ToHashSet();
        var parentOf = chains.ToDictionary(ch => ch, ch => Scalar(c, tx,
            "SELECT parent_chain_id FROM layers WHERE driver = $d AND chain_id = $c", ("$d", D), ("$c", ch)) as string);
        var result = new List<string>();
        var seen = new HashSet<string>();
        void Visit(string ch)
        {
            if (!seen.Add(ch)) return;
            if (parentOf[ch] is { } p && set.Contains(p)) Visit(p);
            result.Add(ch);
        }
        foreach (var ch in chains) Visit(ch);
        return result;
    }

    void DeleteUnusedConfigBlob(string imageId)
    {
        if (Db.Read(c => Scalar(c, null, "SELECT 1 FROM images WHERE id = $id LIMIT 1", ("$id", imageId))) is null)
            Content.Delete(imageId);
    }

    void RemoveLayerFiles(List<(string Driver, string CacheId, string? Blob)> layers)
    {
        foreach (var (_, cacheId, blob) in layers)
        {
            Driver.Remove(cacheId);
            if (blob is not null &&
                Db.Read(c => Scalar(c, null, "SELECT 1 FROM layers WHERE blob_digest = $b LIMIT 1", ("$b", blob))) is null)
                Content.Delete(blob);
        }
    }

    // ---- container layers ---------------------------------------------------------------------

    public void CreateContainerLayer(string containerId, string imageId)
    {
        LayerIds.Check(containerId);
        lock (_lock)
        {
            var img = Get(imageId);
            var (parentChain, parentCache) = Db.Read(c =>
            {
                string? chain = Scalar(c, null, "SELECT top_chain_id FROM images WHERE driver = $d AND id = $id", ("$d", D), ("$id", img.Id)) as string;
                string? cache = chain is null ? null :
                    Scalar(c, null, "SELECT cache_id FROM layers WHERE driver = $d AND chain_id = $c", ("$d", D), ("$c", chain)) as string;
                return (chain, cache);
            });
            if (Db.Read(c => Scalar(c, null, "SELECT 1 FROM container_layers WHERE container_id = $id", ("$id", containerId))) is not null)
                throw new ConflictException($"container {containerId} already has a layer");
            Driver.Create(containerId, parentCache);
            try
            {
                Db.Write((c, tx) => Exec(c, tx, """
                    INSERT INTO container_layers(container_id, driver, image_id, parent_chain_id, cache_id, created_at)
                    VALUES($cid, $d, $img, $chain, $cache, $now)
                    """, ("$cid", containerId), ("$d", D), ("$img", img.Id), ("$chain", parentChain), ("$cache", containerId),
                    ("$now", FormatTime(DateTimeOffset.UtcNow))));
            }
            catch
            {
                Driver.Remove(containerId);
                throw;
            }
        }
    }

    public string MountContainer(string containerId) => Driver.Mount(ContainerCacheId(containerId));

    public void UnmountContainer(string containerId) => Driver.Unmount(ContainerCacheId(containerId));

    public void RemoveContainerLayer(string containerId)
    {
        List<(string, string, string?)> doomed;
        lock (_lock)
        {
            string? cache = Db.Read(c => Scalar(c, null, "SELECT cache_id FROM container_layers WHERE container_id = $id AND driver = $d",
                ("$id", containerId), ("$d", D)) as string);
            Driver.Remove(cache ?? LayerIds.Check(containerId));
            doomed = Db.Write((c, tx) =>
            {
                Exec(c, tx, "DELETE FROM container_layers WHERE container_id = $id", ("$id", containerId));
                return CollectLayers(c, tx).Select(g => (D, g.CacheId, g.Blob)).ToList();
            });
        }
        RemoveLayerFiles(doomed);
    }

    string ContainerCacheId(string containerId) =>
        Db.Read(c => Scalar(c, null, "SELECT cache_id FROM container_layers WHERE container_id = $id AND driver = $d",
            ("$id", containerId), ("$d", D)) as string)
        ?? throw new NotFoundException($"No such container: {containerId}");

    // ---- helpers ------------------------------------------------------------------------------

    /// <summary>Docker's not-found message, naming the reference in familiar form (<c>busybox:latest</c>).</summary>
    static NotFoundException NoSuchImage(string refOrId) =>
        new($"No such image: {(Reference.TryParse(refOrId, out var r, out _) ? r.WithDefaultTag().FamiliarString : refOrId)}");

    static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>RFC 3339 with nanoseconds in UTC, as Docker writes <c>created</c>.</summary>
    public static string FormatTime(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", System.Globalization.CultureInfo.InvariantCulture) + "00Z";

    /// <summary>
    /// Reads an RFC 3339 time as image configs carry it (any offset, up to nanoseconds; .NET parses at most
    /// 7 fractional digits, so the rest is dropped).
    /// </summary>
    public static DateTimeOffset ParseTime(string s) =>
        DateTimeOffset.Parse(System.Text.RegularExpressions.Regex.Replace(s, @"\.(\d{7})\d+", ".$1"),
            System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);

    public void Dispose() => Db.Dispose();
}
