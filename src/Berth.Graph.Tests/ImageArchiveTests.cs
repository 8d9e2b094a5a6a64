using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Graph.Archive;

namespace Berth.Graph.Tests;

/// <summary>save/load in the docker-archive and OCI layout formats, including bad archives.</summary>
public sealed class ImageArchiveTests : IDisposable
{
    readonly TempDir _tmp = new();
    readonly List<ImageStore> _stores = [];

    // overlay2 imports a stack's layers concurrently, vfs one by one: load is tested on both.
    ImageStore NewStore(string name, string driver = "vfs")
    {
        Root.Require();
        var s = ImageStore.Open(_tmp.Combine(name), driver);
        _stores.Add(s);
        return s;
    }

    public void Dispose()
    {
        foreach (var s in _stores) s.Dispose();
        _tmp.Dispose();
    }

    static readonly byte[] Base = new TarBuilder().Dir("etc").File("etc/a", "a").File("etc/b", "b").Bytes();
    static readonly byte[] Top = new TarBuilder().Dir("etc").File("etc/.wh.a", "").File("etc/c", "c").Bytes();
    static string Sha(byte[] b) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(b));

    static byte[] Config(params string[] diffIds) => Encoding.UTF8.GetBytes(
        """{"architecture":"amd64","os":"linux","created":"2024-03-01T12:00:00Z","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["""
        + string.Join(',', diffIds.Select(d => $"\"{d}\"")) + "]}}");

    static ImageRecord TwoLayerImage(ImageStore store, params string[] tags)
    {
        var a = store.ImportLayer(new MemoryStream(TarBuilder.Gzip(Base)), null, null);
        var b = store.ImportLayer(new MemoryStream(Top), a.ChainId, null);
        return store.RegisterImage(Config(a.DiffId, b.DiffId), tags);
    }

    static byte[] Save(ImageStore store, params string[] names)
    {
        var ms = new MemoryStream();
        ImageArchive.SaveAsync(store, ImageArchive.Resolve(store, names), ms, TestContext.Current.CancellationToken).GetAwaiter().GetResult();
        return ms.ToArray();
    }

    static Dictionary<string, byte[]> Entries(byte[] tar)
    {
        var d = new Dictionary<string, byte[]>();
        using var r = new TarReader(new MemoryStream(tar));
        while (r.GetNextEntry() is { } e)
        {
            var ms = new MemoryStream();
            e.DataStream?.CopyTo(ms);
            d[e.Name] = ms.ToArray();
        }
        return d;
    }

    [Fact]
    public void Save_writes_manifest_json_and_an_oci_layout_whose_layer_blobs_match_their_diff_ids()
    {
        var store = NewStore("a");
        var img = TwoLayerImage(store, "app:1");
        var entries = Entries(Save(store, "app:1"));

        Assert.Equal("""{"imageLayoutVersion":"1.0.0"}""", Encoding.UTF8.GetString(entries["oci-layout"]));
        using var manifest = JsonDocument.Parse(entries["manifest.json"]);
        var m = manifest.RootElement[0];
        Assert.Equal("app:1", m.GetProperty("RepoTags")[0].GetString());
        Assert.Equal(img.Id, Sha(entries[m.GetProperty("Config").GetString()!]));
        var layers = m.GetProperty("Layers").EnumerateArray().Select(l => Sha(entries[l.GetString()!])).ToList();
        Assert.Equal(img.DiffIds, layers);
        using var index = JsonDocument.Parse(entries["index.json"]);
        var desc = index.RootElement.GetProperty("manifests")[0];
        Assert.Equal("docker.io/library/app:1", desc.GetProperty("annotations").GetProperty("io.containerd.image.name").GetString());
        Assert.Equal(desc.GetProperty("digest").GetString(), Sha(entries["blobs/sha256/" + desc.GetProperty("digest").GetString()![7..]]));
        Assert.Contains("repositories", entries.Keys);
    }

    [Theory, InlineData("vfs"), InlineData("overlay2")]
    public async Task Load_of_a_saved_archive_restores_the_same_images_and_tags_in_another_store(string driver)
    {
        var src = NewStore("src");
        var img = TwoLayerImage(src, "app:1", "app:2");
        var other = src.Import(new MemoryStream(new TarBuilder().File("x", "x").Bytes()), new ImportOptions { Reference = "other" });
        var archive = Save(src, "app", "other:latest");

        var dst = NewStore("dst", driver);
        var lines = new List<string>();
        var loaded = await ImageArchive.LoadAsync(dst, new MemoryStream(TarBuilder.Gzip(archive)), lines.Add, TestContext.Current.CancellationToken);

        Assert.Equal([img.Id, other.Id], loaded.Select(l => l.Id));
        Assert.Equal(["app:1", "app:2"], loaded[0].Tags.Order());
        var copy = dst.Get("app:2");
        Assert.Equal(img.Id, copy.Id);
        Assert.Equal(img.DiffIds, copy.DiffIds);
        string root = dst.Driver.Mount(copy.TopLayerId);
        try
        {
            Assert.Equal(["b", "c"], Directory.GetFiles(Path.Combine(root, "etc")).Select(Path.GetFileName).Order());
        }
        finally { dst.Driver.Unmount(copy.TopLayerId); }
        Assert.Empty(lines);
        Assert.Empty(Directory.GetFileSystemEntries(_tmp.Combine("dst", "tmp")));
    }

    [Fact]
    public void Load_over_an_existing_tag_moves_it_and_says_so_like_docker()
    {
        var src = NewStore("src");
        var img = TwoLayerImage(src, "app:1");
        var dst = NewStore("dst");
        var old = dst.Import(new MemoryStream(new TarBuilder().File("x", "x").Bytes()), new ImportOptions { Reference = "app:1" });
        var lines = new List<string>();
        ImageArchive.Load(dst, new MemoryStream(Save(src, "app:1")), lines.Add);
        Assert.Equal([$"The image app:1 already exists, renaming the old one with ID {old.Id} to empty string"], lines);
        Assert.Equal(img.Id, dst.Get("app:1").Id);
        Assert.Empty(dst.Get(old.Id).RepoTags);
    }

    [Fact]
    public void Load_of_an_oci_layout_with_gzip_layers_verifies_blob_digests()
    {
        byte[] gz = TarBuilder.Gzip(Base);
        byte[] config = Config(Sha(Base));
        byte[] manifest = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{Sha(config)}}","size":{{config.Length}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{Sha(gz)}}","size":{{gz.Length}}}]}""");
        byte[] index = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{Sha(manifest)}}}","size":{{{manifest.Length}}},"annotations":{"org.opencontainers.image.ref.name":"example.com/oci:v1"}}]}""");
        byte[] Archive(byte[] layer) => new TarBuilder().File("oci-layout", """{"imageLayoutVersion":"1.0.0"}""")
            .Raw("index.json", index).Raw("blobs/sha256/" + Sha(manifest)[7..], manifest).Raw("blobs/sha256/" + Sha(config)[7..], config)
            .Raw("blobs/sha256/" + Sha(gz)[7..], layer).Bytes();

        var store = NewStore("s");
        var tampered = TarBuilder.Gzip(new TarBuilder().File("evil", "x").Bytes());
        Assert.Throws<InvalidDataException>(() => ImageArchive.Load(store, new MemoryStream(Archive(tampered)), _ => { }));
        Assert.Empty(store.Driver.List());

        var loaded = ImageArchive.Load(store, new MemoryStream(Archive(gz)), _ => { });
        Assert.Equal(Sha(config), loaded.Single().Id);
        Assert.Equal(["example.com/oci:v1"], store.Get(Sha(config)).RepoTags);
    }

    [Fact]
    public void Load_of_a_truncated_archive_is_refused_and_changes_nothing()
    {
        var src = NewStore("src");
        TwoLayerImage(src, "app:1");
        var archive = Save(src, "app:1");
        var dst = NewStore("dst");
        foreach (int cut in new[] { archive.Length / 3, archive.Length / 2, archive.Length - 2000 })
        {
            Assert.Throws<InvalidDataException>(() => ImageArchive.Load(dst, new MemoryStream(archive[..cut]), _ => { }));
            Assert.Empty(dst.List());
            Assert.Empty(dst.Driver.List());
            Assert.Empty(Directory.GetFiles(_tmp.Combine("dst", "blobs", "sha256")));
            Assert.Empty(Directory.GetFileSystemEntries(_tmp.Combine("dst", "tmp")));
        }
    }

    [Theory, InlineData("vfs"), InlineData("overlay2")]
    public void Load_refuses_a_layer_whose_content_differs_from_the_config_and_keeps_no_layer(string driver)
    {
        var src = NewStore("src");
        var img = TwoLayerImage(src, "app:1");
        var entries = Entries(Save(src, "app:1"));
        string topPath = "blobs/sha256/" + img.DiffIds[1][7..];
        var b = new TarBuilder();
        foreach (var (name, data) in entries) b.Raw(name, name == topPath ? new TarBuilder().File("etc/other", "x").Bytes() : data);
        var dst = NewStore("dst", driver);
        var e = Assert.Throws<InvalidDataException>(() => ImageArchive.Load(dst, new MemoryStream(b.Bytes()), _ => { }));
        Assert.Contains("diff id", e.Message);
        Assert.Empty(dst.List());
        Assert.Empty(dst.Driver.List());
    }

    [Theory, InlineData("vfs"), InlineData("overlay2")]
    public void Load_of_a_stack_with_a_hostile_middle_layer_is_refused_and_keeps_nothing(string driver)
    {
        var src = NewStore("src");
        var a = src.ImportLayer(new MemoryStream(Base), null, null);
        var b = src.ImportLayer(new MemoryStream(Top), a.ChainId, null);
        var c = src.ImportLayer(new MemoryStream(new TarBuilder().File("etc/d", "d").Bytes()), b.ChainId, null);
        var img = src.RegisterImage(Config(a.DiffId, b.DiffId, c.DiffId), ["app:3"]);
        var entries = Entries(Save(src, "app:3"));
        string middle = "blobs/sha256/" + img.DiffIds[1][7..];
        var evil = new TarBuilder().File("../escaped", "x").Bytes();
        var archive = new TarBuilder();
        foreach (var (name, data) in entries) archive.Raw(name, name == middle ? evil : data);

        var dst = NewStore("dst", driver);
        Assert.Throws<InvalidDataException>(() => ImageArchive.Load(dst, new MemoryStream(archive.Bytes()), _ => { }));
        Assert.Empty(dst.List());
        Assert.Empty(dst.Driver.List());
        Assert.False(File.Exists(_tmp.Combine("dst", "escaped")));
        Assert.Empty(Directory.GetFileSystemEntries(_tmp.Combine("dst", "tmp")));
    }

    [Fact]
    public void Load_refuses_archive_paths_that_climb_out()
    {
        var store = NewStore("s");
        var tar = new TarBuilder().Raw("../manifest.json", "[]"u8.ToArray()).Bytes();
        Assert.Throws<InvalidDataException>(() => ImageArchive.Load(store, new MemoryStream(tar), _ => { }));
        var noManifest = new TarBuilder().Raw("x", "y"u8.ToArray()).Bytes();
        Assert.Contains("manifest.json", Assert.Throws<InvalidDataException>(() => ImageArchive.Load(store, new MemoryStream(noManifest), _ => { })).Message);
    }

    [Fact]
    public void Save_of_an_unknown_image_is_a_not_found_error()
    {
        var store = NewStore("s");
        Assert.Equal("No such image: nope:latest", Assert.Throws<NotFoundException>(() => ImageArchive.Resolve(store, ["nope"])).Message);
    }
}
