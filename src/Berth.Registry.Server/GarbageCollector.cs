namespace Berth.Registry.Server;

/// <summary>
/// Mark and sweep over the blob store. Mark: every manifest revision in every repository, the
/// blobs its manifest references, and (for lists and indexes) its child manifests. Sweep: every
/// other blob whose mtime is older than the collection's start minus --min-age, then repository
/// links that point at swept blobs.
///
/// Why it is safe beside a running server: uploads in progress live in uploads/ and are never
/// swept; a blob that is committed, mounted or referenced by a manifest push gets a fresh
/// mtime (<see cref="Storage.TouchBlob"/>), so anything used after the collection began, or
/// within --min-age before it, survives. A push that uploads layers and sends its manifest more
/// than --min-age later can lose its layers and gets MANIFEST_BLOB_UNKNOWN; it re-pushes. For a
/// strict guarantee, run the server with --read-only while collecting. Uploads untouched for
/// <see cref="AbandonedUploadAge"/> are removed as abandoned.
/// </summary>
public static class GarbageCollector
{
    public static readonly TimeSpan AbandonedUploadAge = TimeSpan.FromDays(7);

    public sealed record Result(int Manifests, int Marked, int Swept, long SweptBytes, int LinksRemoved);

    public static Result Run(Storage storage, bool dryRun, TimeSpan minAge, TextWriter log)
    {
        var cutoff = DateTime.UtcNow - minAge;
        var marked = new HashSet<Digest>();
        int manifests = 0;
        var repos = storage.Repositories();
        foreach (var repo in repos)
            foreach (var rev in storage.ManifestRevisions(repo))
            {
                manifests++;
                marked.Add(rev);
                var m = storage.GetManifest(repo, rev.ToString());
                if (m is null) continue;
                try
                {
                    var info = ManifestInfo.Parse(File.ReadAllBytes(m.Path), m.MediaType);
                    marked.UnionWith(info.Blobs);
                    marked.UnionWith(info.Children);
                }
                catch (RegistryException e)
                {
                    log.WriteLine($"{repo}@{rev}: unreadable manifest kept, its references unknown: {e.Detail}");
                }
            }

        int swept = 0;
        long bytes = 0;
        foreach (var algDir in Directory.EnumerateDirectories(storage.BlobsDir))
            foreach (var prefixDir in Directory.EnumerateDirectories(algDir))
                foreach (var hexDir in Directory.EnumerateDirectories(prefixDir))
                {
                    if (!Digest.TryParse(Path.GetFileName(algDir) + ":" + Path.GetFileName(hexDir), out var d) || marked.Contains(d)) continue;
                    var data = new FileInfo(Path.Combine(hexDir, "data"));
                    // Re-read the mtime now, not at mark time: a push may have touched it meanwhile.
                    if (data.Exists && data.LastWriteTimeUtc > cutoff) continue;
                    swept++;
                    bytes += data.Exists ? data.Length : 0;
                    log.WriteLine($"{(dryRun ? "would delete" : "deleting")} blob {d}");
                    if (!dryRun) Directory.Delete(hexDir, recursive: true);
                }

        int links = 0;
        foreach (var repo in repos)
            foreach (var d in storage.LayerLinks(repo).ToList())
                if (storage.BlobSize(d) is null || (dryRun && !marked.Contains(d) && IsOld(storage, d, cutoff)))
                {
                    links++;
                    if (!dryRun) storage.UnlinkLayer(repo, d);
                }

        // Leftovers of interrupted manifest writes, and uploads abandoned for a week (distribution's purge age).
        foreach (var tmp in Directory.EnumerateFiles(storage.UploadsDir, "tmp-*"))
            if (File.GetLastWriteTimeUtc(tmp) < DateTime.UtcNow.AddHours(-1) && !dryRun) File.Delete(tmp);
        int abandoned = 0;
        foreach (var upload in Directory.EnumerateDirectories(storage.UploadsDir))
        {
            var data = Path.Combine(upload, "data");
            if (File.Exists(data) && File.GetLastWriteTimeUtc(data) >= DateTime.UtcNow - AbandonedUploadAge) continue;
            abandoned++;
            if (!dryRun) Directory.Delete(upload, recursive: true);
        }
        if (abandoned > 0) log.WriteLine($"{abandoned} uploads untouched for {AbandonedUploadAge.TotalDays} days {(dryRun ? "to remove" : "removed")}");

        log.WriteLine($"{manifests} manifests, {marked.Count} blobs marked, {swept} blobs {(dryRun ? "eligible for deletion" : "deleted")} ({bytes} bytes), {links} repository links {(dryRun ? "to remove" : "removed")}");
        return new Result(manifests, marked.Count, swept, bytes, links);
    }

    static bool IsOld(Storage storage, Digest d, DateTime cutoff) => File.GetLastWriteTimeUtc(storage.BlobPath(d)) <= cutoff;
}
