using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Berth.Api;
using Berth.Graph;
using Berth.Graph.References;
using Berth.Registry.Distribution;
using Berth.Registry.Pull;
using Berth.Registry.Transport;
using Xunit;

namespace Berth.Registry.Tests;

/// <summary>Pull against a fake registry, into a real Graph (vfs driver) on a temp data root.</summary>
public sealed class PullTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("berth-reg-").FullName;
    readonly FakeRegistry _registry = new();
    readonly ImageStore _images;
    readonly RegistryTransport _transport;
    readonly List<ProgressUpdate> _progress = new();

    public PullTests()
    {
        _images = ImageStore.Open(Path.Combine(_root, "data"), "vfs");
        _transport = new RegistryTransport(new RegistryOptions
        {
            RetryDelay = TimeSpan.FromMilliseconds(10), TempDir = _images.Content.TempDir, CertsDir = Path.Combine(_root, "certs.d"),
        });
    }

    static string Digest(byte[] b) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>An image of one gzip layer holding <c>hello.txt</c>, its config and its schema2 manifest.</summary>
    sealed record TestImage(byte[] Layer, byte[] Config, byte[] Manifest, string Arch)
    {
        public string LayerDigest => Digest(Layer);
        public string ManifestDigest => Digest(Manifest);
    }

    static TestImage MakeImage(string content, string arch = "amd64", string manifestType = MediaTypes.DockerManifest,
        CompressionLevel level = CompressionLevel.Fastest)
    {
        var tar = new MemoryStream();
        using (var w = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var data = Encoding.UTF8.GetBytes(content);
            var e = new PaxTarEntry(TarEntryType.RegularFile, "hello.txt") {
                DataStream = new MemoryStream(data), Mode = (UnixFileMode)0b110_100_100, ModificationTime = DateTimeOffset.UnixEpoch,
            };
            w.WriteEntry(e);
        }
        var raw = tar.ToArray();
        var gz = new MemoryStream();
        using (var g = new GZipStream(gz, level, leaveOpen: true)) g.Write(raw);
        var layer = gz.ToArray();
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"{{{arch}}}","os":"linux","config":{"Cmd":["sh"]},"created":"2026-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":["{{{Digest(raw)}}}"]}}""");
        var layerType = manifestType == MediaTypes.OciManifest ? MediaTypes.OciLayerGzip : MediaTypes.DockerLayer;
        var configType = manifestType == MediaTypes.OciManifest ? MediaTypes.OciConfig : MediaTypes.DockerConfig;
        var manifest = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{manifestType}}","config":{"mediaType":"{{configType}}","size":{{config.Length}},"digest":"{{Digest(config)}}"},"layers":[{"mediaType":"{{layerType}}","size":{{layer.Length}},"digest":"{{Digest(layer)}}"}]}""");
        return new TestImage(layer, config, manifest, arch);
    }

    void Serve(string repo, TestImage img, string? tag = "latest", byte[]? layerOverride = null)
    {
        if (tag is not null) _registry.Route($"GET /v2/{repo}/manifests/{tag}", ctx => FakeRegistry.Reply(ctx, 200, img.Manifest, MediaTypes.DockerManifest));
        _registry.Route($"GET /v2/{repo}/manifests/{img.ManifestDigest}", ctx => FakeRegistry.Reply(ctx, 200, img.Manifest, MediaTypes.DockerManifest));
        _registry.Route($"GET /v2/{repo}/blobs/{Digest(img.Config)}", ctx => FakeRegistry.Reply(ctx, 200, img.Config, "application/octet-stream"));
        _registry.Route($"GET /v2/{repo}/blobs/{img.LayerDigest}", ctx => FakeRegistry.Reply(ctx, 200, layerOverride ?? img.Layer, "application/octet-stream"));
    }

    /// <summary>Pulls as the daemon does for the docker CLI: a bare name means :latest unless <paramref name="allTags"/>.</summary>
    Task PullAsync(string reference, string? platform = null, bool allTags = false) =>
        new Puller(_transport, new GraphImageStore(_images)).PullAsync(allTags ? Reference.Parse(reference) : Reference.Parse(reference).WithDefaultTag(),
            Platform.Parse(platform), AuthConfig.Anonymous, u => { lock (_progress) _progress.Add(u); }, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Pull_by_tag_registers_image_tag_and_repo_digest()
    {
        var img = MakeImage("one");
        Serve("app", img);
        await PullAsync($"{_registry.Host}/app:latest");

        var record = _images.Find($"{_registry.Host}/app:latest");
        Assert.NotNull(record);
        Assert.Equal(Digest(img.Config), record!.Id);
        Assert.Contains($"{_registry.Host}/app@{img.ManifestDigest}", record.RepoDigests);
        Assert.Contains(_progress, p => p.Status == "Pulling fs layer" && p.Id == Puller.ShortId(img.LayerDigest));
        Assert.Contains(_progress, p => p.Status == "Pull complete");
        Assert.Contains(_progress, p => p.Status == "Digest: " + img.ManifestDigest);
        Assert.Equal($"Status: Downloaded newer image for {_registry.Host}/app:latest", _progress[^1].Status);
    }

    [Fact]
    public async Task Pull_of_a_bare_name_with_all_tags_follows_the_tag_list_pages_and_pulls_each_tag()
    {
        var one = MakeImage("tag one");
        var two = MakeImage("tag two");
        Serve("multi", one, tag: "one");
        Serve("multi", two, tag: "two");
        // One tag per page, as a registry does for ?n=1: the client must follow the Link header.
        _registry.Route("GET /v2/multi/tags/list", ctx => ctx.Request.QueryString["last"] is null
            ? FakeRegistry.Reply(ctx, 200, """{"name":"multi","tags":["one"]}""", "application/json",
                new() { ["Link"] = "</v2/multi/tags/list?n=1&last=one>; rel=\"next\"" })
            : FakeRegistry.Reply(ctx, 200, """{"name":"multi","tags":["two"]}""", "application/json"));

        await PullAsync($"{_registry.Host}/multi", allTags: true);

        Assert.Equal(Digest(one.Config), _images.Find($"{_registry.Host}/multi:one")?.Id);
        Assert.Equal(Digest(two.Config), _images.Find($"{_registry.Host}/multi:two")?.Id);
        Assert.Equal(["one", "two"], _progress.Where(p => p.Status == "Pulling from multi").Select(p => p.Id));
        Assert.Single(_progress, p => p.Status.StartsWith("Status: ", StringComparison.Ordinal));
        Assert.Equal($"Status: Downloaded newer image for {_registry.Host}/multi", _progress[^1].Status);
    }

    [Fact]
    public async Task Pulling_again_reports_up_to_date_and_existing_layers()
    {
        var img = MakeImage("again", manifestType: MediaTypes.OciManifest);
        Serve("app", img);
        await PullAsync($"{_registry.Host}/app");
        _progress.Clear();
        await PullAsync($"{_registry.Host}/app");
        Assert.Contains(_progress, p => p.Status == "Already exists");
        Assert.Equal($"Status: Image is up to date for {_registry.Host}/app:latest", _progress[^1].Status);
    }

    [Fact]
    public async Task Pull_by_digest_verifies_the_manifest_and_adds_no_tag()
    {
        var img = MakeImage("digest");
        Serve("app", img, tag: null);
        await PullAsync($"{_registry.Host}/app@{img.ManifestDigest}");
        var record = _images.Find(Digest(img.Config));
        Assert.NotNull(record);
        Assert.Empty(record!.RepoTags);
        Assert.Single(record.RepoDigests);
    }

    [Fact]
    public async Task Pull_rejects_blob_whose_digest_differs_and_stores_nothing()
    {
        // Stored (uncompressed) deflate keeps both layers the same size, so only the digest can tell them apart.
        var img = MakeImage("good", level: CompressionLevel.NoCompression);
        var evil = MakeImage("evil", level: CompressionLevel.NoCompression);
        Assert.Equal(img.Layer.Length, evil.Layer.Length);
        Serve("app", img, layerOverride: evil.Layer);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => PullAsync($"{_registry.Host}/app"));
        Assert.Contains("digest", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Null(_images.Find($"{_registry.Host}/app:latest"));
        Assert.Empty(_images.List());
        Assert.Empty(Directory.GetFiles(_images.Content.TempDir));
    }

    [Fact]
    public async Task Pull_rejects_blob_larger_than_its_descriptor_and_stores_nothing()
    {
        var img = MakeImage("small", level: CompressionLevel.NoCompression);
        var big = MakeImage(new string('b', 4096), level: CompressionLevel.NoCompression);
        Serve("app", img, layerOverride: big.Layer);
        var e = await Assert.ThrowsAsync<RegistryException>(() => PullAsync($"{_registry.Host}/app"));
        Assert.Contains("larger than", e.Message);
        Assert.Empty(_images.List());
        Assert.Empty(Directory.GetFiles(_images.Content.TempDir));
    }

    [Fact]
    public async Task Pull_resumes_a_dropped_download_with_a_range_request()
    {
        var img = MakeImage(new string('x', 200_000) + Guid.NewGuid());
        Serve("app", img);
        int calls = 0;
        string? range = null;
        _registry.Route($"GET /v2/app/blobs/{img.LayerDigest}", async ctx =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                // Promise the whole blob, send half, then drop the connection.
                ctx.Response.ContentLength64 = img.Layer.Length;
                await ctx.Response.OutputStream.WriteAsync(img.Layer.AsMemory(0, img.Layer.Length / 2));
                await ctx.Response.OutputStream.FlushAsync();
                ctx.Response.Abort();
                return;
            }
            range = ctx.Request.Headers["Range"];
            long from = long.Parse(range!["bytes=".Length..].TrimEnd('-'));
            ctx.Response.Headers["Content-Range"] = $"bytes {from}-{img.Layer.Length - 1}/{img.Layer.Length}";
            await FakeRegistry.Reply(ctx, 206, img.Layer[(int)from..], "application/octet-stream");
        });
        await PullAsync($"{_registry.Host}/app");
        Assert.NotNull(range);
        Assert.StartsWith("bytes=", range);
        Assert.NotEqual("bytes=0-", range);
        Assert.NotNull(_images.Find($"{_registry.Host}/app:latest"));
    }

    [Fact]
    public async Task Pull_by_digest_refuses_a_manifest_whose_bytes_have_another_digest()
    {
        var img = MakeImage("asked");
        var other = MakeImage("sent");
        _registry.Route($"GET /v2/app/manifests/{img.ManifestDigest}", ctx => FakeRegistry.Reply(ctx, 200, other.Manifest, MediaTypes.DockerManifest));
        var e = await Assert.ThrowsAsync<RegistryException>(() => PullAsync($"{_registry.Host}/app@{img.ManifestDigest}"));
        Assert.Contains($"manifest verification failed for digest {img.ManifestDigest}", e.Message);
        Assert.Empty(_images.List());
    }

    [Fact]
    public async Task Pull_refuses_a_config_whose_digest_differs_and_stores_nothing()
    {
        var img = MakeImage("config");
        Serve("app", img);
        _registry.Route($"GET /v2/app/blobs/{Digest(img.Config)}", ctx => FakeRegistry.Reply(ctx, 200, img.Config.Concat("x"u8.ToArray()).ToArray()[1..], "application/octet-stream"));
        var e = await Assert.ThrowsAsync<RegistryException>(() => PullAsync($"{_registry.Host}/app"));
        Assert.Contains("failed verification", e.Message);
        Assert.Empty(_images.List());
        Assert.Empty(Directory.GetFiles(_images.Content.TempDir));
    }

    [Fact]
    public async Task Pull_cancelled_mid_layer_stores_nothing_and_the_next_pull_completes()
    {
        var img = MakeImage(new string('c', 300_000) + Guid.NewGuid(), level: CompressionLevel.NoCompression);
        Serve("app", img);
        var halfSent = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        _registry.Route($"GET /v2/app/blobs/{img.LayerDigest}", async ctx =>
        {
            ctx.Response.ContentLength64 = img.Layer.Length;
            await ctx.Response.OutputStream.WriteAsync(img.Layer.AsMemory(0, img.Layer.Length / 2));
            await ctx.Response.OutputStream.FlushAsync();
            halfSent.TrySetResult();
            await release.Task;
            ctx.Response.Abort();
        });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var pull = new Puller(_transport, new GraphImageStore(_images)).PullAsync(Reference.Parse($"{_registry.Host}/app:latest"), Platform.Default,
            AuthConfig.Anonymous, _ => { }, cts.Token);
        await halfSent.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // As the daemon does when the API client goes away.
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pull);
        release.TrySetResult();
        Assert.Empty(_images.List());
        Assert.Empty(Directory.GetFiles(_images.Content.TempDir));

        Serve("app", img);
        await PullAsync($"{_registry.Host}/app");
        Assert.NotNull(_images.Find($"{_registry.Host}/app:latest"));
    }

    [Fact]
    public async Task Pull_refuses_schema1_manifests_clearly()
    {
        _registry.Route("GET /v2/old/manifests/latest", ctx => FakeRegistry.Reply(ctx, 200,
            """{"schemaVersion":1,"name":"old","tag":"latest","fsLayers":[],"history":[]}""", MediaTypes.DockerSchema1Signed));
        var e = await Assert.ThrowsAsync<RegistryException>(() => PullAsync($"{_registry.Host}/old"));
        Assert.Equal(RegistryErrorKind.Unsupported, e.Kind);
        Assert.Contains("schema 1", e.Message);
    }

    [Fact]
    public async Task Pull_reports_garbage_manifest_with_wrong_content_type()
    {
        _registry.Route("GET /v2/junk/manifests/latest", ctx => FakeRegistry.Reply(ctx, 200, "<html>hello</html>", "text/html"));
        var e = await Assert.ThrowsAsync<RegistryException>(() => PullAsync($"{_registry.Host}/junk"));
        Assert.Contains("invalid manifest", e.Message);
        Assert.Empty(_images.List());
    }

    [Fact]
    public async Task Pull_gives_up_on_a_body_that_is_always_truncated_and_stores_nothing()
    {
        var img = MakeImage("short");
        Serve("app", img);
        _registry.Route($"GET /v2/app/blobs/{img.LayerDigest}", async ctx =>
        {
            ctx.Response.ContentLength64 = img.Layer.Length;
            await ctx.Response.OutputStream.WriteAsync(img.Layer.AsMemory(0, 10));
            ctx.Response.Abort();
        });
        await Assert.ThrowsAnyAsync<Exception>(() => PullAsync($"{_registry.Host}/app"));
        Assert.Empty(_images.List());
        Assert.Empty(Directory.GetFiles(_images.Content.TempDir));
        Assert.Contains(_progress, p => p.Status.StartsWith("Retrying in", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Pull_picks_the_requested_platform_from_a_manifest_list()
    {
        var amd = MakeImage("amd", "amd64");
        var arm = MakeImage("arm", "arm64");
        Serve("multi", amd, tag: null);
        Serve("multi", arm, tag: null);
        var index = $$$"""{"schemaVersion":2,"mediaType":"{{{MediaTypes.DockerManifestList}}}","manifests":[{"mediaType":"{{{MediaTypes.DockerManifest}}}","size":{{{arm.Manifest.Length}}},"digest":"{{{arm.ManifestDigest}}}","platform":{"architecture":"arm64","os":"linux"}},{"mediaType":"{{{MediaTypes.DockerManifest}}}","size":{{{amd.Manifest.Length}}},"digest":"{{{amd.ManifestDigest}}}","platform":{"architecture":"amd64","os":"linux"}}]}""";
        _registry.Route("GET /v2/multi/manifests/latest", ctx => FakeRegistry.Reply(ctx, 200, index, MediaTypes.DockerManifestList));

        await PullAsync($"{_registry.Host}/multi", "linux/arm64");
        Assert.Equal("arm64", _images.Find($"{_registry.Host}/multi:latest")!.Architecture);
        await PullAsync($"{_registry.Host}/multi");
        Assert.Equal("amd64", _images.Find($"{_registry.Host}/multi:latest")!.Architecture);
        var e = await Assert.ThrowsAsync<RegistryException>(() => PullAsync($"{_registry.Host}/multi", "linux/s390x"));
        Assert.Contains("no matching manifest for linux/s390x", e.Message);
    }

    [Fact]
    public async Task Pull_answers_a_bearer_challenge_with_a_token_for_the_repository_scope()
    {
        var img = MakeImage("secret");
        string? scope = null, basic = null;
        _registry.Route("GET /token", ctx =>
        {
            scope = ctx.Request.QueryString["scope"];
            basic = ctx.Request.Headers["Authorization"];
            return FakeRegistry.Reply(ctx, 200, """{"token":"tok123","expires_in":300}""", "application/json");
        });
        var challenge = new Dictionary<string, string> { ["WWW-Authenticate"] = $"Bearer realm=\"http://{_registry.Host}/token\",service=\"fake\"" };
        Func<System.Net.HttpListenerContext, Func<Task>, Task> guard = (ctx, next) =>
            ctx.Request.Headers["Authorization"] == "Bearer tok123" ? next()
                : FakeRegistry.Reply(ctx, 401, """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""", "application/json", challenge);
        _registry.Route("GET /v2/", ctx => guard(ctx, () => FakeRegistry.Reply(ctx, 200, "{}", "application/json")));
        _registry.Route("GET /v2/private/manifests/latest", ctx => guard(ctx, () => FakeRegistry.Reply(ctx, 200, img.Manifest, MediaTypes.DockerManifest)));
        _registry.Route($"GET /v2/private/blobs/{Digest(img.Config)}", ctx => guard(ctx, () => FakeRegistry.Reply(ctx, 200, img.Config, "application/octet-stream")));
        _registry.Route($"GET /v2/private/blobs/{img.LayerDigest}", ctx => guard(ctx, () => FakeRegistry.Reply(ctx, 200, img.Layer, "application/octet-stream")));

        await new Puller(_transport, new GraphImageStore(_images)).PullAsync(Reference.Parse($"{_registry.Host}/private:latest"), Platform.Default,
            new AuthConfig { Username = "u", Password = "p" }, _ => { }, TestContext.Current.CancellationToken);
        Assert.Equal("repository:private:pull", scope);
        Assert.Equal("Basic " + Convert.ToBase64String("u:p"u8.ToArray()), basic);
        Assert.NotNull(_images.Find($"{_registry.Host}/private:latest"));
    }

    public void Dispose()
    {
        _registry.Dispose();
        _transport.Dispose();
        _images.Dispose();
        Directory.Delete(_root, true);
    }
}
