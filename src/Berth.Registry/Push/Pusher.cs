using Berth.Api;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Berth.Graph.References;
using Berth.Registry.Auth;
using Berth.Registry.Distribution;
using Berth.Registry.Pull;
using Berth.Registry.Transport;

namespace Berth.Registry.Push;

/// <summary>What a push reports at the end, as Docker's aux message carries it.</summary>
public sealed record PushResult(string Tag, string Digest, int Size);

/// <summary>
/// The push job's engine: every layer (concurrently, up to <c>MaxConcurrentUploads</c>) is skipped when the
/// registry has it, mounted from another repository of the same registry where the image came from one,
/// or uploaded compressed; then the config, and the manifest last, so the tag never names missing blobs.
/// </summary>
/// <remarks>
/// A layer's stored blob is pushed as it is when it is already compressed (a pulled layer keeps its
/// registry digest that way). Otherwise the tar is gzip-compressed into a temp file first: the digest must
/// be known before the HEAD that decides whether to upload at all, and a file can be re-read on retry.
/// </remarks>
public sealed class Pusher(RegistryTransport transport, IImageStore store)
{
    /// <summary>Pushes one tag (the reference's, or latest).</summary>
    public async Task<PushResult> PushAsync(Reference reference, AuthConfig auth, Action<ProgressUpdate> report, CancellationToken ct) =>
        (await PushTagsAsync(reference, [reference.Tag ?? Reference.DefaultTag], auth, report, ct).ConfigureAwait(false))[0];

    /// <summary>
    /// Pushes every local tag of the repository, in order (<c>docker push --all-tags</c>, or a client that names no
    /// tag), under one "The push refers to repository" line, as dockerd does.
    /// </summary>
    public async Task<IReadOnlyList<PushResult>> PushAllTagsAsync(Reference repository, AuthConfig auth, Action<ProgressUpdate> report,
        CancellationToken ct)
    {
        var tags = store.TagsOf(repository.Name);
        if (tags.Count == 0)
            throw new RegistryException(RegistryErrorKind.NotFound, $"An image does not exist locally with the tag: {repository.NameOnly().FamiliarName}");
        return await PushTagsAsync(repository, tags, auth, report, ct).ConfigureAwait(false);
    }

    async Task<IReadOnlyList<PushResult>> PushTagsAsync(Reference reference, IReadOnlyList<string> tags, AuthConfig auth,
        Action<ProgressUpdate> report, CancellationToken ct)
    {
        var images = tags.Select(tag => (Tag: tag, Image: store.FindForPush(reference.NameOnly().WithTag(tag).ToString())
            ?? throw new RegistryException(RegistryErrorKind.NotFound, $"An image does not exist locally with the tag: {reference.NameOnly().FamiliarName}")))
            .ToList();
        var mountFrom = images.SelectMany(i => i.Image.Repositories)
            .Select(Reference.Parse)
            .Where(r => r.Domain == reference.Domain && r.Path != reference.Path)
            .Select(r => r.Path).Distinct().ToList();
        var repo = await RepositoryClient.OpenAsync(transport, RegistryTransport.ApiHost(reference.Domain), reference.Path, auth,
            ["pull", "push"], mountFrom.Select(p => $"repository:{p}:pull").ToList(), ct).ConfigureAwait(false);
        report(ProgressUpdate.Line($"The push refers to repository [{reference.Name}]"));
        var results = new List<PushResult>();
        foreach (var (tag, image) in images)
            results.Add(await PushImageAsync(repo, reference, tag, image, mountFrom, report, ct).ConfigureAwait(false));
        return results;
    }

    async Task<PushResult> PushImageAsync(RepositoryClient repo, Reference reference, string tag, PushableImage image, List<string> mountFrom,
        Action<ProgressUpdate> report, CancellationToken ct)
    {
        foreach (var layer in image.Layers.Reverse()) report(ProgressUpdate.Layer(ShortId(layer), "Preparing"));
        var slots = new SemaphoreSlim(Math.Max(1, transport.Options.MaxConcurrentUploads));
        var tasks = image.Layers.Select(l => PushLayerAsync(repo, l, mountFrom, slots, report, ct)).ToList();
        var descriptors = await Task.WhenAll(tasks).ConfigureAwait(false);

        var config = new Descriptor { Digest = RepositoryClient.Digest(image.Config), Size = image.Config.Length };
        bool oci = descriptors.Any(d => d.MediaType == MediaTypes.OciLayerZstd);
        config.MediaType = oci ? MediaTypes.OciConfig : MediaTypes.DockerConfig;
        if (!await repo.BlobExistsAsync(config.Digest, ct).ConfigureAwait(false))
            await repo.UploadAsync(() => new MemoryStream(image.Config, false), image.Config.Length, config.Digest, long.MaxValue, null, ct).ConfigureAwait(false);

        if (oci)
            foreach (var d in descriptors)
                if (d.MediaType == MediaTypes.DockerLayer) d.MediaType = MediaTypes.OciLayerGzip;
        var manifest = new Manifest
        {
            SchemaVersion = 2,
            MediaType = oci ? MediaTypes.OciManifest : MediaTypes.DockerManifest,
            Config = config,
            Layers = descriptors.ToList(),
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(manifest, RegistryJson.Default.Manifest);
        var digest = await repo.PutManifestAsync(tag, manifest.MediaType, bytes, ct).ConfigureAwait(false);
        store.AddDigestReference(image.Id, reference.Name + "@" + digest);
        report(ProgressUpdate.Line($"{tag}: digest: {digest} size: {bytes.Length}"));
        return new PushResult(tag, digest, bytes.Length);
    }

    static string ShortId(StoredLayer l) => Puller.ShortId(l.DiffId);

    async Task<Descriptor> PushLayerAsync(RepositoryClient repo, StoredLayer layer, List<string> mountFrom, SemaphoreSlim slots,
        Action<ProgressUpdate> report, CancellationToken ct)
    {
        var id = ShortId(layer);
        await slots.WaitAsync(ct).ConfigureAwait(false);
        string? tempFile = null;
        try
        {
            var (open, digest, size, mediaType) = await BlobForAsync(layer, ct).ConfigureAwait(false);
            tempFile = open.TempFile;
            var descriptor = new Descriptor { MediaType = mediaType, Digest = digest, Size = size };
            if (await repo.BlobExistsAsync(digest, ct).ConfigureAwait(false))
            {
                report(ProgressUpdate.Layer(id, "Layer already exists"));
                return descriptor;
            }
            foreach (var from in mountFrom)
            {
                if (await repo.TryMountAsync(digest, from, ct).ConfigureAwait(false))
                {
                    report(ProgressUpdate.Layer(id, "Mounted from " + from));
                    return descriptor;
                }
            }
            var pushing = new ThrottledBytes(report, id, "Pushing", size);
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await repo.UploadAsync(open.Open, size, digest, transport.Options.ChunkSize, pushing.Report, ct).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (attempt < transport.Options.MaxAttempts && !ct.IsCancellationRequested &&
                                          (e is IOException or HttpRequestException || e is RegistryException { IsTransient: true }))
                {
                    var delay = transport.Options.RetryDelay * (1 << (attempt - 1));
                    report(ProgressUpdate.Layer(id, $"Retrying in {Math.Max(1, (int)Math.Round(delay.TotalSeconds))} seconds"));
                    await Task.Delay(delay, ct).ConfigureAwait(false);
                }
            }
            report(ProgressUpdate.Layer(id, "Pushed"));
            return descriptor;
        }
        finally
        {
            slots.Release();
            if (tempFile is not null) File.Delete(tempFile);
        }
    }

    sealed record BlobSource(Func<Stream> Open, string? TempFile);

    /// <summary>The bytes to upload for a layer: its stored compressed blob, or the tar gzipped into a temp file.</summary>
    async Task<(BlobSource Source, string Digest, long Size, string MediaType)> BlobForAsync(StoredLayer layer, CancellationToken ct)
    {
        if (layer.BlobDigest is { } blobDigest && store.OpenCompressedBlob(layer) is { } stored)
        {
            long length;
            var magic = new byte[4];
            await using (stored)
            {
                length = stored.Length;
                await stored.ReadAtLeastAsync(magic, magic.Length, false, ct).ConfigureAwait(false);
            }
            string? type = magic[0] == 0x1f && magic[1] == 0x8b ? MediaTypes.DockerLayer
                : magic.AsSpan().SequenceEqual((ReadOnlySpan<byte>)[0x28, 0xb5, 0x2f, 0xfd]) ? MediaTypes.OciLayerZstd : null;
            if (type is not null)
                return (new BlobSource(() => store.OpenCompressedBlob(layer)!, null), blobDigest, length, type);
        }
        var temp = Path.Combine(transport.Options.TempDir, "push-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await using (var gzip = new GZipStream(new HashingWriteStream(file, hash), CompressionLevel.Fastest, leaveOpen: true))
                await using (var tar = store.OpenLayerTar(layer.ChainId))
                    await tar.CopyToAsync(gzip, 1 << 17, ct).ConfigureAwait(false);
            }
            var digest = "sha256:" + Convert.ToHexStringLower(hash.GetCurrentHash());
            return (new BlobSource(() => File.OpenRead(temp), temp), digest, new FileInfo(temp).Length, MediaTypes.DockerLayer);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Hashes what passes through on its way to the file.</summary>
    sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            hash.AppendData(buffer.Span);
            await inner.WriteAsync(buffer, ct).ConfigureAwait(false);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
    }
}
