using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using Berth.Graph.References;

namespace Berth.Graph.Archive;

/// <summary>A loaded image and the tags it got (familiar form).</summary>
public sealed record LoadedImage(string Id, IReadOnlyList<string> Tags);

/// <summary>
/// <c>docker save</c> and <c>docker load</c>. Save writes the docker-archive format the way Docker 25+ does: an
/// OCI image layout (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/</c>) whose blobs <c>manifest.json</c>
/// and <c>repositories</c> also name, so both Docker's loaders and OCI tools read it. Load takes that, older
/// docker-archives (<c>&lt;id&gt;/layer.tar</c>, symlinked duplicates) and plain OCI layouts, plain or compressed.
/// </summary>
public static class ImageArchive
{
    const int MaxJsonSize = 16 << 20;

    // ---- save ---------------------------------------------------------------------------------

    /// <summary>
    /// Which images a save of <paramref name="names"/> writes, with the tags each carries in the archive: a tag
    /// names itself, a bare repository all its tags, an id the image with no tag. Unknown names throw.
    /// </summary>
    public static IReadOnlyList<(ImageRecord Image, List<string> Tags)> Resolve(ImageStore store, IEnumerable<string> names)
    {
        var result = new List<(ImageRecord Image, List<string> Tags)>();
        void Add(ImageRecord img, string? tag)
        {
            int i = result.FindIndex(r => r.Image.Id == img.Id);
            if (i < 0) result.Add((img, []));
            var tags = result[i < 0 ? ^1 : i].Tags;
            if (tag is not null && !tags.Contains(tag)) tags.Add(tag);
        }
        foreach (var name in names)
        {
            bool isRef = Reference.TryParse(name, out var r, out _);
            if (isRef && r.IsNameOnly)
            {
                var tagged = store.List().SelectMany(i => i.RepoTags.Where(t => Reference.Parse(t).Name == r.Name).Select(t => (i, t))).ToList();
                foreach (var (i, t) in tagged) Add(i, t);
                if (tagged.Count > 0) continue;
            }
            var img = store.Get(name);
            string? tag = isRef ? r.WithDefaultTag().FamiliarString : null;
            Add(img, tag is not null && img.RepoTags.Contains(tag) ? tag : null);
        }
        return result;
    }

    public static async Task SaveAsync(ImageStore store, IReadOnlyList<(ImageRecord Image, List<string> Tags)> images, Stream output,
        CancellationToken ct = default)
    {
        var w = new UstarWriter(output);
        await w.DirectoryAsync("blobs", ct).ConfigureAwait(false);
        await w.DirectoryAsync("blobs/sha256", ct).ConfigureAwait(false);
        var written = new HashSet<string>(StringComparer.Ordinal);
        var manifests = new List<ArchiveManifestEntry>();
        var index = new List<OciDescriptor>();
        var repositories = new Dictionary<string, Dictionary<string, string>>();

        async Task<OciDescriptor> Blob(string mediaType, byte[] data)
        {
            string digest = ContentStore.Digest(data);
            if (written.Add(digest)) await w.FileAsync(BlobPath(digest), data, ct).ConfigureAwait(false);
            return new OciDescriptor { MediaType = mediaType, Digest = digest, Size = data.Length };
        }

        foreach (var (img, tags) in images)
        {
            var config = await Blob(OciMediaTypes.Config, store.GetConfigBytes(img.Id)).ConfigureAwait(false);
            var layers = new List<OciDescriptor>();
            string? chain = null;
            foreach (var diffId in img.DiffIds)
            {
                chain = chain is null ? diffId : ImageStore.ChainStep(chain, diffId);
                long size = store.LayerTarSize(chain);
                if (written.Add(diffId))
                {
                    await using var tar = store.OpenLayerTar(chain);
                    await w.FileAsync(BlobPath(diffId), size, tar, ct).ConfigureAwait(false);
                }
                layers.Add(new OciDescriptor { MediaType = OciMediaTypes.Layer, Digest = diffId, Size = size });
            }
            var manifest = new OciManifest { MediaType = OciMediaTypes.Manifest, Config = config, Layers = layers };
            var manifestDesc = await Blob(OciMediaTypes.Manifest, JsonSerializer.SerializeToUtf8Bytes(manifest, ArchiveJson.Default.OciManifest))
                .ConfigureAwait(false);
            manifests.Add(new ArchiveManifestEntry
            {
                Config = BlobPath(config.Digest),
                RepoTags = tags.Count > 0 ? tags : null,
                Layers = layers.Select(l => BlobPath(l.Digest)).ToList(),
            });
            if (tags.Count == 0) index.Add(manifestDesc);
            foreach (var tag in tags)
            {
                var r = Reference.Parse(tag);
                index.Add(new OciDescriptor
                {
                    MediaType = manifestDesc.MediaType, Digest = manifestDesc.Digest, Size = manifestDesc.Size,
                    Annotations = new() { ["io.containerd.image.name"] = r.ToString(), ["org.opencontainers.image.ref.name"] = r.Tag! },
                });
                var familiarRepo = r.NameOnly().FamiliarString;
                if (!repositories.TryGetValue(familiarRepo, out var repoTags)) repositories[familiarRepo] = repoTags = [];
                if (img.DiffIds.Count > 0) repoTags[r.Tag!] = ContentStore.Hex(img.DiffIds[^1]);
            }
        }
        await w.FileAsync("index.json", JsonSerializer.SerializeToUtf8Bytes(
            new OciManifest { MediaType = OciMediaTypes.Index, Manifests = index }, ArchiveJson.Default.OciManifest), ct).ConfigureAwait(false);
        await w.FileAsync("manifest.json", JsonSerializer.SerializeToUtf8Bytes(manifests, ArchiveJson.Default.ListArchiveManifestEntry), ct)
            .ConfigureAwait(false);
        await w.FileAsync("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), ct).ConfigureAwait(false);
        if (repositories.Count > 0)
            await w.FileAsync("repositories", JsonSerializer.SerializeToUtf8Bytes(repositories,
                ArchiveJson.Default.DictionaryStringDictionaryStringString), ct).ConfigureAwait(false);
        await w.FinishAsync(ct).ConfigureAwait(false);
    }

    static string BlobPath(string digest) => "blobs/sha256/" + ContentStore.Hex(digest);

    // ---- load ---------------------------------------------------------------------------------

    /// <summary>
    /// Loads every image in the archive. The archive is unpacked into a private temp dir first (its manifest
    /// may come last); each image's missing layers are imported in order and checked against the config's
    /// diff ids, then the image is registered. A failing image leaves no layers of its own behind.
    /// <paramref name="report"/> gets Docker's lines ("The image … already exists, renaming the old one …").
    /// </summary>
    public static Task<IReadOnlyList<LoadedImage>> LoadAsync(ImageStore store, Stream archive, Action<string>? report = null,
        CancellationToken ct = default) =>
        AsyncSourceStream.RunAsync(archive, s => Load(store, s, report ?? (_ => { })), ct);

    public static IReadOnlyList<LoadedImage> Load(ImageStore store, Stream archive, Action<string> report)
    {
        string dir = Path.Combine(store.Content.TempDir, "load-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var files = Unpack(archive, dir);
            var loaded = new List<LoadedImage>();
            foreach (var image in ReadImages(files))
                loaded.Add(LoadOne(store, files, image, report));
            return loaded;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    sealed record ArchiveImage(byte[] Config, List<(string Path, string? Digest)> Layers, List<string> Tags);

    static LoadedImage LoadOne(ImageStore store, ArchiveFiles files, ArchiveImage image, Action<string> report)
    {
        ImageConfigFile cfg;
        try { cfg = JsonSerializer.Deserialize(image.Config, GraphJson.Default.ImageConfigFile) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidDataException($"invalid image config in archive: {e.Message}", e); }
        var diffIds = cfg.RootFs?.DiffIds ?? [];
        if (diffIds.Count != image.Layers.Count)
            throw new InvalidDataException($"invalid archive: the image config lists {diffIds.Count} layers, the manifest {image.Layers.Count}");
        var imported = new List<string>();
        try
        {
            var chains = new List<string>();
            foreach (var diffId in diffIds) chains.Add(chains.Count == 0 ? diffId : ImageStore.ChainStep(chains[^1], diffId));
            // A stored chain id implies its parents are stored too, so the missing layers are the top of the stack.
            int first = chains.FindIndex(c => !store.HasLayer(c));
            if (first >= 0)
            {
                var layers = store.ImportLayerFiles(
                    image.Layers.Skip(first).Select(l => (files.PathOf(l.Path), l.Digest)).ToList(), first == 0 ? null : chains[first - 1]);
                imported.AddRange(layers.Select(l => l.ChainId));
                for (int i = 0; i < layers.Count; i++)
                    if (layers[i].ChainId != chains[first + i])
                        throw new InvalidDataException(
                            $"invalid archive: layer {image.Layers[first + i].Path} has diff id {layers[i].DiffId}, but the image config says {diffIds[first + i]}");
            }
            var tags = image.Tags.Select(t => Reference.Parse(t).WithDefaultTag()).ToList();
            string id = ContentStore.Digest(image.Config);
            foreach (var tag in tags)
                if (store.Find(tag.ToString()) is { } old && old.Id != id && old.RepoTags.Contains(tag.FamiliarString))
                    report($"The image {tag.FamiliarString} already exists, renaming the old one with ID {old.Id} to empty string");
            var img = store.RegisterImage(image.Config, tags.Select(t => t.ToString()).ToList());
            return new LoadedImage(img.Id, tags.Select(t => t.FamiliarString).ToList());
        }
        catch
        {
            store.ReleaseLayers(imported);
            throw;
        }
    }

    static List<ArchiveImage> ReadImages(ArchiveFiles files)
    {
        if (files.Has("manifest.json"))
        {
            var entries = Json(files, "manifest.json", ArchiveJson.Default.ListArchiveManifestEntry);
            return entries.Select(e => new ArchiveImage(files.ReadAll(e.Config, MaxJsonSize),
                e.Layers.Select(l => (l, (string?)null)).ToList(), e.RepoTags ?? [])).ToList();
        }
        if (files.Has("index.json"))
        {
            var images = new List<ArchiveImage>();
            foreach (var desc in Json(files, "index.json", ArchiveJson.Default.OciManifest).Manifests ?? [])
                CollectOci(files, desc, TagOf(desc), images, depth: 0);
            return images;
        }
        throw new InvalidDataException("invalid archive: it has neither manifest.json nor index.json (legacy v1 archives are not supported)");
    }

    /// <summary>Docker's name annotation, or an OCI ref.name that is a whole reference (not just a tag like "latest").</summary>
    static string? TagOf(OciDescriptor d)
    {
        if (d.Annotations is null) return null;
        if (d.Annotations.TryGetValue("io.containerd.image.name", out var full)) return full;
        return d.Annotations.TryGetValue("org.opencontainers.image.ref.name", out var name) && name.Contains(':') &&
               Reference.TryParse(name, out _, out _) ? name : null;
    }

    static void CollectOci(ArchiveFiles files, OciDescriptor desc, string? tag, List<ArchiveImage> images, int depth)
    {
        if (depth > 4) throw new InvalidDataException("invalid archive: image indexes nest too deeply");
        var bytes = files.ReadBlob(desc.Digest, MaxJsonSize);
        OciManifest m;
        try { m = JsonSerializer.Deserialize(bytes, ArchiveJson.Default.OciManifest) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidDataException($"invalid archive: manifest {desc.Digest}: {e.Message}", e); }
        if (m.Manifests is { } children)
        {
            var pick = children.FirstOrDefault(c => c.Platform is null || (c.Platform.Os == "linux" && c.Platform.Architecture == "amd64"))
                ?? throw new InvalidDataException($"invalid archive: index {desc.Digest} has no linux/amd64 image");
            CollectOci(files, pick, tag, images, depth + 1);
            return;
        }
        if (m.Config is null) throw new InvalidDataException($"invalid archive: manifest {desc.Digest} has no config");
        var config = files.ReadBlob(m.Config.Digest, MaxJsonSize);
        var existing = images.FindIndex(i => i.Config.AsSpan().SequenceEqual(config));
        if (existing >= 0)
        {
            if (tag is not null && !images[existing].Tags.Contains(tag)) images[existing].Tags.Add(tag);
            return;
        }
        images.Add(new ArchiveImage(config, (m.Layers ?? []).Select(l => (files.BlobPath(l.Digest), (string?)l.Digest)).ToList(),
            tag is null ? [] : [tag]));
    }

    static T Json<T>(ArchiveFiles files, string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try { return JsonSerializer.Deserialize(files.ReadAll(path, MaxJsonSize), type) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidDataException($"invalid archive: {path}: {e.Message}", e); }
    }

    /// <summary>
    /// Unpacks regular files to numbered temp files and records links by name only, so no archive path is ever
    /// used as a file system path: a hostile archive has nothing to escape through.
    /// </summary>
    static ArchiveFiles Unpack(Stream archive, string dir)
    {
        var files = new ArchiveFiles();
        int n = 0;
        try
        {
            using var raw = Decompression.Open(archive, out _);
            using var reader = new TarReader(raw);
            while (reader.GetNextEntry() is { } e)
            {
                string name = ArchiveFiles.Clean(e.Name, e.Name);
                if (name.Length == 0) continue;
                switch (e.EntryType)
                {
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        string path = Path.Combine(dir, (n++).ToString(System.Globalization.CultureInfo.InvariantCulture));
                        using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                        {
                            e.DataStream?.CopyTo(f);
                            if (f.Length != e.Length) throw new InvalidDataException($"invalid archive: {e.Name} is truncated");
                        }
                        files.AddFile(name, path);
                        break;
                    case TarEntryType.SymbolicLink:
                        if (e.LinkName.StartsWith('/')) throw new InvalidDataException($"invalid archive: {e.Name} links outside the archive");
                        string linkDir = name.Contains('/') ? name[..name.LastIndexOf('/')] : "";
                        files.AddLink(name, ArchiveFiles.Clean(linkDir + "/" + e.LinkName, e.Name));
                        break;
                    case TarEntryType.HardLink:
                        files.AddLink(name, ArchiveFiles.Clean(e.LinkName, e.Name));
                        break;
                }
            }
        }
        catch (Exception e) when (e is FormatException or EndOfStreamException)
        {
            throw new InvalidDataException($"invalid archive: {e.Message}", e);
        }
        return files;
    }

    /// <summary>The unpacked archive: archive path → temp file, links resolved by name.</summary>
    sealed class ArchiveFiles
    {
        readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
        readonly Dictionary<string, string> _links = new(StringComparer.Ordinal);

        public void AddFile(string name, string path)
        {
            _links.Remove(name);
            _files[name] = path;
        }

        public void AddLink(string name, string target)
        {
            _files.Remove(name);
            _links[name] = target;
        }

        public bool Has(string name) => Resolve(name) is not null;

        string? Resolve(string name)
        {
            name = Clean(name, name);
            for (int hops = 0; hops < 16; hops++)
            {
                if (_files.TryGetValue(name, out var path)) return path;
                if (!_links.TryGetValue(name, out var next)) return null;
                name = next;
            }
            throw new InvalidDataException($"invalid archive: too many links resolving {name}");
        }

        public string PathOf(string name) => Resolve(name) ?? throw new InvalidDataException($"invalid archive: {name} is missing");

        public Stream Open(string name) => File.OpenRead(PathOf(name));

        public string BlobPath(string digest)
        {
            int colon = digest.IndexOf(':');
            if (colon <= 0 || digest.AsSpan(colon + 1).ContainsAnyExcept("0123456789abcdef"))
                throw new InvalidDataException($"invalid archive: bad digest {digest}");
            return $"blobs/{digest[..colon]}/{digest[(colon + 1)..]}";
        }

        public byte[] ReadAll(string name, int max)
        {
            using var s = Open(name);
            if (s.Length > max) throw new InvalidDataException($"invalid archive: {name} is larger than {max} bytes");
            var data = new byte[s.Length];
            s.ReadExactly(data);
            return data;
        }

        /// <summary>A blob named by digest, checked against it.</summary>
        public byte[] ReadBlob(string digest, int max)
        {
            var data = ReadAll(BlobPath(digest), max);
            if (digest.StartsWith("sha256:", StringComparison.Ordinal) && ContentStore.Digest(data) != digest)
                throw new InvalidDataException($"invalid archive: blob {digest} does not match its digest");
            return data;
        }

        /// <summary>Normalises an archive path; one that climbs out of the archive is refused.</summary>
        public static string Clean(string name, string entry)
        {
            var parts = new List<string>();
            foreach (var p in name.Split('/'))
            {
                if (p is "" or ".") continue;
                if (p == "..")
                {
                    if (parts.Count == 0) throw new InvalidDataException($"invalid archive: {entry} points outside the archive");
                    parts.RemoveAt(parts.Count - 1);
                }
                else parts.Add(p);
            }
            return string.Join('/', parts);
        }
    }
}
