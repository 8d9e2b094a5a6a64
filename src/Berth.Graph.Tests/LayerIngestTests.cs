using System.Security.Cryptography;
using System.Text;

namespace Berth.Graph.Tests;

/// <summary>The layer ingest API that pull, load and commit build on: ImportLayer, RegisterImage, OpenLayerTar.</summary>
public abstract class LayerIngestTests : StoreOnDriverTests
{
    static readonly byte[] Base = new TarBuilder().Dir("etc").File("etc/a", "a").File("etc/b", "b").Bytes();
    static readonly byte[] Top = new TarBuilder().Dir("etc").File("etc/.wh.a", "").File("etc/c", "c").Bytes();

    static string Sha(byte[] b) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(b));

    string[] Blobs() => Directory.GetFiles(Tmp.Combine("blobs", "sha256")).Select(Path.GetFileName).ToArray()!;

    [Fact]
    public async Task ImportLayerAsync_stacks_layers_and_reports_chain_and_diff_ids()
    {
        var ct = TestContext.Current.CancellationToken;
        byte[] gz = TarBuilder.Gzip(Base);
        var a = await Store.ImportLayerAsync(new MemoryStream(gz), null, Sha(gz), ct);
        var b = await Store.ImportLayerAsync(new MemoryStream(TarBuilder.Zstd(Top)), a.ChainId, null, ct);

        Assert.Equal(Sha(Base), a.DiffId);
        Assert.Equal(a.DiffId, a.ChainId);
        Assert.Equal(Sha(gz), a.BlobDigest);
        Assert.Equal(Sha(Top), b.DiffId);
        Assert.Equal(ImageStore.ChainId([Sha(Base), Sha(Top)]), b.ChainId);
        Assert.NotEqual(b.DiffId, b.ChainId);
        Assert.True(Store.HasLayer(b.ChainId));
        Assert.Equal(a, Store.FindLayerByBlob(Sha(gz), null));
        Assert.Null(Store.FindLayerByBlob(Sha(gz), b.ChainId));
    }

    [Fact]
    public void OpenLayerTar_returns_the_exact_tar_the_diff_id_names()
    {
        var a = Store.ImportLayer(new MemoryStream(TarBuilder.Gzip(Base)), null, null);
        var b = Store.ImportLayer(new MemoryStream(Top), a.ChainId, null);
        foreach (var (layer, tar) in new[] { (a, Base), (b, Top) })
        {
            using var s = Store.OpenLayerTar(layer.ChainId);
            var ms = new MemoryStream();
            s.CopyTo(ms);
            Assert.Equal(tar, ms.ToArray());
        }
    }

    [Fact]
    public void ImportLayer_with_a_wrong_digest_fails_and_leaves_nothing_behind()
    {
        byte[] gz = TarBuilder.Gzip(Base);
        var e = Assert.Throws<InvalidDataException>(() => Store.ImportLayer(new MemoryStream(gz), null, Sha(Base)));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Empty(Store.Driver.List());
        Assert.Empty(Blobs());
        Assert.Empty(Directory.GetFileSystemEntries(Tmp.Combine("tmp")));
        Assert.False(Store.HasLayer(Sha(Base)));
    }

    [Fact]
    public void ImportLayer_of_a_truncated_blob_fails_and_leaves_nothing_behind()
    {
        byte[] gz = TarBuilder.Gzip(new TarBuilder().Dir("d").File("d/big", new string('x', 100_000)).Bytes());
        Assert.ThrowsAny<Exception>(() => Store.ImportLayer(new MemoryStream(gz[..(gz.Length / 2)]), null, null));
        Assert.Empty(Store.Driver.List());
        Assert.Empty(Blobs());
    }

    [Fact]
    public void ImportLayer_of_a_layer_already_stored_keeps_one_copy()
    {
        var first = Store.ImportLayer(new MemoryStream(Base), null, null);
        var again = Store.ImportLayer(new MemoryStream(TarBuilder.Gzip(Base)), null, null);
        Assert.Equal(first, again);
        Assert.Single(Store.Driver.List());
        Assert.Equal([first.BlobDigest![7..]], Blobs());
    }

    [Fact]
    public void ImportLayer_on_a_missing_parent_is_refused()
    {
        Assert.Throws<NotFoundException>(() => Store.ImportLayer(new MemoryStream(Top), Sha(Base), null));
        Assert.Empty(Store.Driver.List());
    }

    static byte[] Config(params string[] diffIds) => Encoding.UTF8.GetBytes(
        """{"architecture":"amd64","os":"linux","created":"2024-03-01T12:00:00.123456789+01:00","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["""
        + string.Join(',', diffIds.Select(d => $"\"{d}\"")) + "]}}");

    [Fact]
    public void RegisterImage_names_the_image_by_its_config_digest_and_tags_it()
    {
        var a = Store.ImportLayer(new MemoryStream(Base), null, null);
        var b = Store.ImportLayer(new MemoryStream(Top), a.ChainId, null);
        byte[] config = Config(a.DiffId, b.DiffId);
        string manifestDigest = Sha("manifest"u8.ToArray());
        var img = Store.RegisterImage(config, ["example.com/app:1", "example.com/app@" + manifestDigest]);

        Assert.Equal(Sha(config), img.Id);
        Assert.Equal(config, Store.GetConfigBytes(img.Id));
        Assert.Equal(["example.com/app:1"], img.RepoTags);
        Assert.Equal(["example.com/app@" + manifestDigest], img.RepoDigests);
        Assert.Equal(new DateTimeOffset(2024, 3, 1, 11, 0, 0, 123, TimeSpan.Zero).AddTicks(4567), img.Created);
        Assert.Equal(a.Size + b.Size, img.Size);
        string root = Store.Driver.Mount(img.TopLayerId);
        try
        {
            Assert.False(File.Exists(Path.Combine(root, "etc/a")));
            Assert.Equal("b", File.ReadAllText(Path.Combine(root, "etc/b")));
            Assert.Equal("c", File.ReadAllText(Path.Combine(root, "etc/c")));
        }
        finally { Store.Driver.Unmount(img.TopLayerId); }
    }

    [Fact]
    public void RegisterImage_refuses_a_config_whose_layers_are_missing_or_out_of_order()
    {
        var a = Store.ImportLayer(new MemoryStream(Base), null, null);
        var b = Store.ImportLayer(new MemoryStream(Top), a.ChainId, null);
        Assert.Throws<InvalidDataException>(() => Store.RegisterImage(Config(b.DiffId, a.DiffId)));
        Assert.Throws<InvalidDataException>(() => Store.RegisterImage(Config(a.DiffId, Sha("nope"u8.ToArray()))));
        Assert.Throws<InvalidDataException>(() => Store.RegisterImage("{not json"u8.ToArray()));
        Assert.Empty(Store.List());
    }
}

public sealed class VfsLayerIngestTests : LayerIngestTests
{
    protected override string DriverName => "vfs";
}

public sealed class Overlay2LayerIngestTests : LayerIngestTests
{
    protected override string DriverName => "overlay2";
}
