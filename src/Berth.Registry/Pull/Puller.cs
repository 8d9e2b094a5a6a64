using Berth.Api;
using System.Text.Json;
using Berth.Graph.References;
using Berth.Registry.Auth;
using Berth.Registry.Distribution;
using Berth.Registry.Transport;

namespace Berth.Registry.Pull;

/// <summary>
/// The pull job's engine: resolve the manifest (choosing a platform from an index), fetch the config,
/// download the missing layers concurrently into <see cref="Spool"/>s, extract them parent-first while
/// they download, then register the image and its tag and digest references.
/// </summary>
/// <remarks>
/// Ordering: a layer can only be applied on top of its parent, so extraction is sequential. Downloads are
/// not: up to <c>MaxConcurrentDownloads</c> run at once, each into its own spool file, and the extractor
/// reads layer k's spool while it still grows, as soon as layer k-1 is in. So the first layer streams
/// from the socket through hashing, decompression and extraction in one pass, and later layers are
/// mostly on disk by the time their turn comes. Spools also make a dropped connection invisible to the
/// extractor: the downloader resumes with a Range request and appends.
/// </remarks>
public sealed class Puller(RegistryTransport transport, IImageStore store)
{
    /// <summary>
    /// Pulls a tag or a digest; a name alone pulls every tag of the repository, as dockerd does for
    /// <c>pull --all-tags</c>, with one closing status line for the repository.
    /// </summary>
    public async Task PullAsync(Reference reference, Platform platform, AuthConfig auth, Action<ProgressUpdate> report, CancellationToken ct)
    {
        if (!reference.IsNameOnly)
        {
            bool downloaded = await PullOneAsync(reference, platform, auth, report, ct).ConfigureAwait(false);
            report(ProgressUpdate.Line((downloaded ? "Status: Downloaded newer image for " : "Status: Image is up to date for ") + reference.FamiliarString));
            return;
        }
        var (_, tags) = await OpenAsync(reference, auth, repo => repo.ListTagsAsync(ct), ct).ConfigureAwait(false);
        if (tags.Count == 0) throw new RegistryException(RegistryErrorKind.NotFound, $"repository {reference.NameOnly()} has no tags");
        bool any = false;
        foreach (var tag in tags)
            any |= await PullOneAsync(reference.WithTag(tag), platform, auth, report, ct).ConfigureAwait(false);
        report(ProgressUpdate.Line((any ? "Status: Downloaded newer image for " : "Status: Image is up to date for ") + reference.FamiliarString));
    }

    /// <summary>
    /// Opens the repository on the first endpoint where <paramref name="first"/> succeeds: mirrors first
    /// (a mirror that fails or lacks the image falls through), then the registry itself.
    /// </summary>
    async Task<(RepositoryClient Repo, T Result)> OpenAsync<T>(Reference reference, AuthConfig auth, Func<RepositoryClient, Task<T>> first, CancellationToken ct)
    {
        Exception? lastError = null;
        foreach (var endpoint in Endpoints(reference.Domain))
        {
            try
            {
                var repo = await RepositoryClient.OpenAsync(transport, TransportHost(endpoint, reference.Domain), reference.Path, auth, ["pull"], null, ct, endpoint).ConfigureAwait(false);
                return (repo, await first(repo).ConfigureAwait(false));
            }
            catch (RegistryException e) when (endpoint is not null)
            {
                lastError = e;
            }
        }
        throw lastError ?? new RegistryException(RegistryErrorKind.NotFound, $"no endpoint for {reference.Domain}");
    }

    /// <summary>One tag or digest, up to its <c>Digest:</c> line; true when the name now points at a different image than before.</summary>
    async Task<bool> PullOneAsync(Reference reference, Platform platform, AuthConfig auth, Action<ProgressUpdate> report, CancellationToken ct)
    {
        var target = reference.Digest ?? reference.Tag!;
        RepositoryClient repo;
        RepositoryClient.ManifestBlob top;
        try { (repo, top) = await OpenAsync(reference, auth, repo => repo.GetManifestAsync(target, ct), ct).ConfigureAwait(false); }
        catch (RegistryException e) when (e.Kind is RegistryErrorKind.Unauthorized or RegistryErrorKind.Denied)
        {
            // dockerd's wording and status (404): a private repository and a missing one look alike.
            throw new RegistryException(RegistryErrorKind.NotFound,
                $"pull access denied for {reference.NameOnly().FamiliarString}, repository does not exist or may require 'docker login': {e.Message}");
        }

        report(ProgressUpdate.Line("Pulling from " + reference.Path, target));
        if (top.MediaType == MediaTypes.DockerSchema1) throw Schema1(reference);
        var manifest = top;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            var chosen = ChoosePlatform(top.Parsed, platform)
                ?? throw new RegistryException(RegistryErrorKind.NotFound, $"no matching manifest for {platform} in the manifest list entries");
            manifest = await repo.GetManifestAsync(chosen.Digest, ct).ConfigureAwait(false);
            if (manifest.MediaType == MediaTypes.DockerSchema1) throw Schema1(reference);
            if (!MediaTypes.IsImageManifest(manifest.MediaType))
                throw new RegistryException(RegistryErrorKind.Invalid, $"the index entry {chosen.Digest} is a {manifest.MediaType}, not an image manifest");
        }
        var m = manifest.Parsed;
        if (m.Config is null || m.Layers is null)
            throw new RegistryException(RegistryErrorKind.Invalid, $"the manifest {manifest.Digest} has no config or no layers");
        foreach (var l in m.Layers)
        {
            if (!MediaTypes.IsLayer(l.MediaType))
                throw new RegistryException(RegistryErrorKind.Unsupported, $"unsupported layer media type {l.MediaType} in {manifest.Digest}");
            if (!l.Digest.StartsWith("sha256:", StringComparison.Ordinal) || l.Digest.Length != 71 || l.Size < 0)
                throw new RegistryException(RegistryErrorKind.Invalid, $"invalid layer descriptor {l.Digest} in {manifest.Digest}");
        }

        var config = await repo.GetSmallBlobAsync(m.Config, ct).ConfigureAwait(false);
        ConfigHead head;
        try { head = JsonSerializer.Deserialize(config, RegistryJson.Default.ConfigHead) ?? new(); }
        catch (JsonException e) { throw new RegistryException(RegistryErrorKind.Invalid, $"the image config {m.Config.Digest} is not valid JSON: {e.Message}"); }
        var diffIds = head.RootFs?.DiffIds ?? [];
        if (diffIds.Count != m.Layers.Count)
            throw new RegistryException(RegistryErrorKind.Invalid, $"the image config lists {diffIds.Count} layers but the manifest has {m.Layers.Count}");
        var chains = diffIds.Select((_, i) => Graph.ImageStore.ChainId(diffIds.Take(i + 1).ToList())).ToList();

        var tagName = reference.Digest is null ? reference.NameOnly().WithTag(target).ToString() : null;
        var previous = store.FindImageId(tagName ?? reference.ToString());
        await PullLayersAsync(repo, m.Layers, chains, report, ct).ConfigureAwait(false);

        var imageId = store.RegisterImage(config, tagName is null ? [] : [tagName]);
        store.AddDigestReference(imageId, reference.NameOnly() + "@" + top.Digest);
        report(ProgressUpdate.Line("Digest: " + top.Digest));
        return previous != imageId;
    }

    /// <summary>Mirrors first (docker.io only, as Docker), then the registry itself (null = its own scheme probe).</summary>
    IEnumerable<Uri?> Endpoints(string domain)
    {
        if (domain == RegistryTransport.DockerHubDomain)
            foreach (var mirror in transport.Options.Mirrors) yield return mirror;
        yield return null;
    }

    static string TransportHost(Uri? endpoint, string domain) => endpoint?.Authority ?? RegistryTransport.ApiHost(domain);

    static RegistryException Schema1(Reference r) => new(RegistryErrorKind.Unsupported,
        $"[DEPRECATION NOTICE] Docker Image manifest version 2, schema 1 is not supported: {r.NameOnly()} uses it. " +
        "Ask the image's author to push it again in the OCI format or as a schema 2 manifest.");

    /// <summary>The index entry for the platform: an exact variant match first, then one without a variant.</summary>
    public static Descriptor? ChoosePlatform(Manifest index, Platform platform)
    {
        var candidates = (index.Manifests ?? []).Where(d => platform.Matches(d.Platform) && !IsAttestation(d)).ToList();
        return candidates.FirstOrDefault(d => d.Platform!.Variant == platform.Variant) ?? candidates.FirstOrDefault();
    }

    /// <summary>Buildkit's attestation manifests claim the platform unknown/unknown; skip them explicitly anyway.</summary>
    static bool IsAttestation(Descriptor d) =>
        d.Annotations?.TryGetValue("vnd.docker.reference.type", out var t) == true && t == "attestation-manifest";

    public static string ShortId(string digest) => digest.StartsWith("sha256:", StringComparison.Ordinal) ? digest[7..19] : digest;

    async Task PullLayersAsync(RepositoryClient repo, List<Descriptor> layers, List<string> chains, Action<ProgressUpdate> report, CancellationToken ct)
    {
        int firstMissing = chains.FindIndex(c => !store.HasLayer(c));
        for (int i = 0; i < layers.Count; i++)
            report(ProgressUpdate.Layer(ShortId(layers[i].Digest), firstMissing < 0 || i < firstMissing ? "Already exists" : "Pulling fs layer"));
        if (firstMissing < 0) return;

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var options = transport.Options;
        var slots = new SemaphoreSlim(Math.Max(1, options.MaxConcurrentDownloads));
        // One spool per distinct blob: a manifest may list the same blob twice (empty layers).
        var spools = new Dictionary<string, (Spool Spool, Task Download)>();
        try
        {
            for (int i = firstMissing; i < layers.Count; i++)
            {
                var d = layers[i];
                if (spools.ContainsKey(d.Digest)) continue;
                var spool = new Spool(options.TempDir);
                spools[d.Digest] = (spool, DownloadAsync(repo, d, spool, slots, report, cts.Token));
            }
            for (int i = firstMissing; i < layers.Count; i++)
            {
                var d = layers[i];
                var id = ShortId(d.Digest);
                var (spool, download) = spools[d.Digest];
                var extracting = new ThrottledBytes(report, id, "Extracting", d.Size);
                await using (var reader = new ProgressStream(spool.OpenReader(), extracting.Report))
                {
                    try
                    {
                        await store.ImportLayerAsync(reader, i == 0 ? null : chains[i - 1], d.Digest, cts.Token).ConfigureAwait(false);
                    }
                    catch (Exception) when (download.IsFaulted)
                    {
                        await download.ConfigureAwait(false); // the download's own error says more than the reader's
                    }
                }
                report(ProgressUpdate.Layer(id, "Pull complete"));
            }
        }
        catch
        {
            await cts.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            try { await Task.WhenAll(spools.Values.Select(s => s.Download)).ConfigureAwait(false); }
            catch (Exception) { } // already reported through the extraction, or cancelled with it
            foreach (var (spool, _) in spools.Values) spool.Dispose();
        }
    }

    async Task DownloadAsync(RepositoryClient repo, Descriptor d, Spool spool, SemaphoreSlim slots, Action<ProgressUpdate> report, CancellationToken ct)
    {
        var id = ShortId(d.Digest);
        try
        {
            await Task.Yield();
            if (slots.CurrentCount == 0) report(ProgressUpdate.Layer(id, "Waiting"));
            await slots.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            spool.Complete(e);
            throw;
        }
        try
        {
            var downloading = new ThrottledBytes(report, id, "Downloading", d.Size);
            var options = transport.Options;
            var buffer = new byte[1 << 17];
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    var (resp, ranged) = await repo.OpenBlobAsync(d.Digest, spool.Written, ct).ConfigureAwait(false);
                    using (resp)
                    {
                        long skip = ranged ? 0 : spool.Written; // the server ignored Range: drop what we already have
                        await using var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                        int n;
                        while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                        {
                            int start = 0;
                            if (skip > 0) { start = (int)Math.Min(skip, n); skip -= start; }
                            if (start == n) continue;
                            if (d.Size > 0 && spool.Written + (n - start) > d.Size)
                                throw new RegistryException(RegistryErrorKind.Invalid, $"blob {d.Digest} is larger than the {d.Size} bytes its manifest says");
                            await spool.AppendAsync(buffer.AsMemory(start, n - start), ct).ConfigureAwait(false);
                            downloading.Report(spool.Written);
                        }
                    }
                    if (d.Size > 0 && spool.Written < d.Size)
                        throw new IOException($"the connection closed after {spool.Written} of {d.Size} bytes");
                    break;
                }
                catch (Exception e) when (attempt < options.MaxAttempts && !ct.IsCancellationRequested &&
                                          (e is IOException or HttpRequestException || e is RegistryException { IsTransient: true }))
                {
                    var delay = options.RetryDelay * (1 << (attempt - 1));
                    report(ProgressUpdate.Layer(id, $"Retrying in {Math.Max(1, (int)Math.Round(delay.TotalSeconds))} second{(delay.TotalSeconds > 1.5 ? "s" : "")}"));
                    await Task.Delay(delay, ct).ConfigureAwait(false);
                }
            }
            spool.Complete(null);
            report(ProgressUpdate.Layer(id, "Download complete"));
        }
        catch (Exception e)
        {
            spool.Complete(e);
            throw;
        }
        finally
        {
            slots.Release();
        }
    }
}
