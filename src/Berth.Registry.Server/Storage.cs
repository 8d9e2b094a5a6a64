using System.Text;
using System.Text.Json;

namespace Berth.Registry.Server;

/// <summary>
/// The registry's filesystem layout under --root. Blobs (layers, configs and manifests alike)
/// live once, by digest; repositories hold only small link files that name digests, so a tag
/// move, a mount or a delete is a rename or an unlink and never copies content:
/// <code>
/// blobs/&lt;alg&gt;/&lt;hex[0:2]&gt;/&lt;hex&gt;/data
/// repositories/&lt;name&gt;/_layers/&lt;alg&gt;/&lt;hex&gt;/link                 blob usable in this repository
/// repositories/&lt;name&gt;/_manifests/revisions/&lt;alg&gt;/&lt;hex&gt;/link      manifest in this repository
/// repositories/&lt;name&gt;/_manifests/revisions/&lt;alg&gt;/&lt;hex&gt;/mediatype the Content-Type it was pushed with
/// repositories/&lt;name&gt;/_manifests/tags/&lt;tag&gt;/current/link          tag → manifest digest
/// repositories/&lt;name&gt;/_referrers/&lt;alg&gt;/&lt;subject hex&gt;/&lt;alg&gt;-&lt;hex&gt;.json  descriptor of a manifest whose subject it is
/// uploads/&lt;uuid&gt;/{data,repo}                                      uploads in progress
/// </code>
/// Names, tags and digests are validated before they reach a path (<see cref="References"/>),
/// and a repository component can never start with '_', so the two never collide.
/// </summary>
public sealed class Storage
{
    public string Root { get; }
    public string BlobsDir { get; }
    public string RepositoriesDir { get; }
    public string UploadsDir { get; }

    public Storage(string root)
    {
        Root = Path.GetFullPath(root);
        BlobsDir = Path.Combine(Root, "blobs");
        RepositoriesDir = Path.Combine(Root, "repositories");
        UploadsDir = Path.Combine(Root, "uploads");
        Directory.CreateDirectory(BlobsDir);
        Directory.CreateDirectory(RepositoriesDir);
        Directory.CreateDirectory(UploadsDir);
    }

    // ---- blobs

    public string BlobPath(Digest d) => Path.Combine(BlobsDir, d.Algorithm, d.Hex[..2], d.Hex, "data");

    public long? BlobSize(Digest d)
    {
        var fi = new FileInfo(BlobPath(d));
        return fi.Exists ? fi.Length : null;
    }

    /// <summary>
    /// Marks a blob as just used so a garbage collection running now spares it (it sweeps only
    /// blobs older than its start); false when the blob is not stored.
    /// </summary>
    public bool TouchBlob(Digest d)
    {
        try { File.SetLastWriteTimeUtc(BlobPath(d), DateTime.UtcNow); return true; }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return false; }
    }

    /// <summary>
    /// Moves a fully written, fsynced and verified file into the blob store. The rename is the
    /// commit point: a reader sees the whole blob or none. A blob that is already stored keeps
    /// its file, whose mtime is refreshed so a concurrent garbage collection spares it.
    /// </summary>
    public void CommitBlob(string verifiedFile, Digest d)
    {
        var target = BlobPath(d);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (File.Exists(target))
        {
            File.Delete(verifiedFile);
            TouchBlob(d);
            return;
        }
        File.Move(verifiedFile, target, overwrite: true);
    }

    /// <summary>Stores bytes already in memory (manifests) as a blob.</summary>
    public void PutBlobBytes(ReadOnlySpan<byte> data, Digest d)
    {
        var tmp = Path.Combine(UploadsDir, "tmp-" + Guid.NewGuid().ToString("N"));
        using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
        {
            fs.Write(data);
            fs.Flush(flushToDisk: true);
        }
        CommitBlob(tmp, d);
    }

    // ---- links

    string RepoDir(string name) => Path.Combine(RepositoriesDir, name);
    string LayerLink(string name, Digest d) => Path.Combine(RepoDir(name), "_layers", d.Algorithm, d.Hex, "link");
    string RevisionDir(string name, Digest d) => Path.Combine(RepoDir(name), "_manifests", "revisions", d.Algorithm, d.Hex);
    string TagsDir(string name) => Path.Combine(RepoDir(name), "_manifests", "tags");
    string TagLink(string name, string tag) => Path.Combine(TagsDir(name), tag, "current", "link");
    string ReferrersDir(string name, Digest subject) => Path.Combine(RepoDir(name), "_referrers", subject.Algorithm, subject.Hex);

    public bool RepositoryExists(string name) => Directory.Exists(Path.Combine(RepoDir(name), "_manifests")) || Directory.Exists(Path.Combine(RepoDir(name), "_layers"));

    /// <summary>Replaces a small file atomically: readers see the old content or the new, never a torn one.</summary>
    public static void WriteAtomic(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
        {
            fs.Write(Encoding.UTF8.GetBytes(content));
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    static Digest? ReadLink(string path)
    {
        try { return Digest.TryParse(File.ReadAllText(path).Trim(), out var d) ? d : null; }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
    }

    public void LinkLayer(string name, Digest d) => WriteAtomic(LayerLink(name, d), d.ToString());

    /// <summary>A blob is served from a repository only once it was pushed or mounted there (as distribution does).</summary>
    public bool IsLayerLinked(string name, Digest d) => File.Exists(LayerLink(name, d)) || File.Exists(Path.Combine(RevisionDir(name, d), "link"));

    public bool UnlinkLayer(string name, Digest d)
    {
        var dir = Path.GetDirectoryName(LayerLink(name, d))!;
        if (!Directory.Exists(dir)) return false;
        Directory.Delete(dir, recursive: true);
        return true;
    }

    // ---- manifests

    public sealed record StoredManifest(Digest Digest, string MediaType, string Path, long Size);

    public void PutManifest(string name, Digest d, ReadOnlySpan<byte> bytes, string mediaType, string? tag, Digest? subject, Descriptor? asReferrer)
    {
        PutBlobBytes(bytes, d);
        var rev = RevisionDir(name, d);
        WriteAtomic(Path.Combine(rev, "mediatype"), mediaType);
        WriteAtomic(Path.Combine(rev, "link"), d.ToString());
        if (subject is { } s && asReferrer is not null)
            WriteAtomic(Path.Combine(ReferrersDir(name, s), $"{d.Algorithm}-{d.Hex}.json"), JsonSerializer.Serialize(asReferrer, RegistryJson.Default.Descriptor));
        if (tag is not null) WriteAtomic(TagLink(name, tag), d.ToString());
    }

    public StoredManifest? GetManifest(string name, string reference)
    {
        Digest d;
        if (Digest.TryParse(reference, out var byDigest)) d = byDigest;
        else if (ReadLink(TagLink(name, reference)) is { } tagged) d = tagged;
        else return null;
        var rev = RevisionDir(name, d);
        if (!File.Exists(Path.Combine(rev, "link"))) return null;
        var path = BlobPath(d);
        var fi = new FileInfo(path);
        if (!fi.Exists) return null;
        string mediaType;
        try { mediaType = File.ReadAllText(Path.Combine(rev, "mediatype")); }
        catch (FileNotFoundException) { mediaType = "application/vnd.oci.image.manifest.v1+json"; }
        return new StoredManifest(d, mediaType, path, fi.Length);
    }

    public bool HasManifest(string name, Digest d) => File.Exists(Path.Combine(RevisionDir(name, d), "link"));

    /// <summary>Removes a manifest revision, every tag that points at it, and its referrer entry.</summary>
    public bool DeleteManifest(string name, Digest d, Digest? subject)
    {
        var rev = RevisionDir(name, d);
        if (!Directory.Exists(rev)) return false;
        foreach (var tag in Tags(name))
            if (ReadLink(TagLink(name, tag)) == d) DeleteTag(name, tag);
        if (subject is { } s) File.Delete(Path.Combine(ReferrersDir(name, s), $"{d.Algorithm}-{d.Hex}.json"));
        Directory.Delete(rev, recursive: true);
        return true;
    }

    public bool DeleteTag(string name, string tag)
    {
        var dir = Path.Combine(TagsDir(name), tag);
        if (!Directory.Exists(dir)) return false;
        Directory.Delete(dir, recursive: true);
        return true;
    }

    public List<string> Tags(string name)
    {
        var dir = TagsDir(name);
        if (!Directory.Exists(dir)) return [];
        var tags = Directory.EnumerateDirectories(dir).Select(Path.GetFileName).OfType<string>()
            .Where(t => File.Exists(TagLink(name, t))).ToList();
        tags.Sort(StringComparer.Ordinal);
        return tags;
    }

    public IEnumerable<Digest> ManifestRevisions(string name)
    {
        var dir = Path.Combine(RepoDir(name), "_manifests", "revisions");
        if (!Directory.Exists(dir)) yield break;
        foreach (var algDir in Directory.EnumerateDirectories(dir))
            foreach (var hexDir in Directory.EnumerateDirectories(algDir))
                if (Digest.TryParse(Path.GetFileName(algDir) + ":" + Path.GetFileName(hexDir), out var d) && File.Exists(Path.Combine(hexDir, "link")))
                    yield return d;
    }

    public IEnumerable<Digest> LayerLinks(string name)
    {
        var dir = Path.Combine(RepoDir(name), "_layers");
        if (!Directory.Exists(dir)) yield break;
        foreach (var algDir in Directory.EnumerateDirectories(dir))
            foreach (var hexDir in Directory.EnumerateDirectories(algDir))
                if (Digest.TryParse(Path.GetFileName(algDir) + ":" + Path.GetFileName(hexDir), out var d))
                    yield return d;
    }

    public List<Descriptor> Referrers(string name, Digest subject)
    {
        var dir = ReferrersDir(name, subject);
        var list = new List<Descriptor>();
        if (!Directory.Exists(dir)) return list;
        foreach (var f in Directory.EnumerateFiles(dir, "*.json"))
        {
            var desc = JsonSerializer.Deserialize(File.ReadAllBytes(f), RegistryJson.Default.Descriptor);
            if (desc is not null && Digest.TryParse(desc.Digest, out var d) && HasManifest(name, d)) list.Add(desc);
        }
        list.Sort((a, b) => string.CompareOrdinal(a.Digest, b.Digest));
        return list;
    }

    /// <summary>Every repository, sorted: a directory is one when it holds _manifests or _layers.</summary>
    public List<string> Repositories()
    {
        var result = new List<string>();
        void Walk(string dir, string prefix)
        {
            foreach (var sub in Directory.EnumerateDirectories(dir))
            {
                var leaf = Path.GetFileName(sub);
                if (leaf.StartsWith('_')) continue;
                var name = prefix.Length == 0 ? leaf : prefix + "/" + leaf;
                if (Directory.Exists(Path.Combine(sub, "_manifests")) || Directory.Exists(Path.Combine(sub, "_layers"))) result.Add(name);
                Walk(sub, name);
            }
        }
        Walk(RepositoriesDir, "");
        result.Sort(StringComparer.Ordinal);
        return result;
    }

    // ---- uploads

    public string UploadDir(string uuid) => Path.Combine(UploadsDir, uuid);
    public string UploadData(string uuid) => Path.Combine(UploadDir(uuid), "data");

    public string CreateUpload(string name)
    {
        var uuid = Guid.NewGuid().ToString("N");
        var dir = UploadDir(uuid);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "repo"), name);
        File.Create(UploadData(uuid)).Dispose();
        return uuid;
    }

    /// <summary>An upload id is ours only if it is 32 hex digits and was started in this repository.</summary>
    public bool UploadExists(string name, string uuid)
    {
        if (uuid.Length != 32 || !uuid.All(char.IsAsciiHexDigitLower)) return false;
        try { return File.ReadAllText(Path.Combine(UploadDir(uuid), "repo")) == name && File.Exists(UploadData(uuid)); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return false; }
    }

    public void DeleteUpload(string uuid)
    {
        var dir = UploadDir(uuid);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}
