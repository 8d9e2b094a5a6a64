namespace Berth.Graph.Tests;

/// <summary>The start-up check: leftovers collected, damage reported, and repaired where the blob allows.</summary>
public sealed class IntegrityTests : IDisposable
{
    readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    ImageStore Open()
    {
        Root.Require();
        return ImageStore.Open(_tmp.Path, "vfs");
    }

    static MemoryStream Tar(string marker) => new TarBuilder().Dir("etc").File("etc/m", marker).Stream();

    [Fact]
    public void Open_collects_layers_that_no_image_uses_after_an_interrupted_load()
    {
        string chain;
        using (var store = Open())
        {
            store.Import(Tar("kept"), new ImportOptions { Reference = "kept" });
            chain = store.ImportLayer(Tar("orphan"), null, null).ChainId; // the crash came before RegisterImage
        }
        using (var store = Open())
        {
            Assert.False(store.HasLayer(chain));
            Assert.Single(store.Driver.List());
            Assert.Equal(2, Directory.GetFiles(_tmp.Combine("blobs", "sha256")).Length); // kept's layer blob and config
            Assert.Empty(store.Problems);
        }
    }

    [Fact]
    public void Open_removes_blobs_that_no_layer_or_image_names_and_keeps_the_rest()
    {
        string stray;
        using (var store = Open())
        {
            store.Import(Tar("kept"), new ImportOptions { Reference = "kept" });
            stray = store.Content.Put("a blob installed just before a crash, never recorded"u8); // before its row was written
            File.WriteAllText(_tmp.Combine("blobs", "sha256", "not-a-digest"), "left alone");
        }
        using (var store = Open())
        {
            Assert.False(store.Content.Exists(stray));
            Assert.Equal(3, Directory.GetFiles(_tmp.Combine("blobs", "sha256")).Length); // kept's layer blob, its config, the odd file
            string root = store.Driver.Mount(store.Find("kept")!.TopLayerId);
            Assert.Equal("kept", File.ReadAllText(Path.Combine(root, "etc/m")));
            store.Driver.Unmount(store.Find("kept")!.TopLayerId);
            Assert.Empty(store.Problems);
        }
    }

    [Fact]
    public void Open_rebuilds_a_missing_layer_directory_from_its_blob_and_reports_it()
    {
        ImageRecord img;
        using (var store = Open())
        {
            img = store.Import(Tar("data"), new ImportOptions { Reference = "img" });
            Directory.Delete(_tmp.Combine("vfs", "dir", img.TopLayerId), recursive: true);
        }
        using (var store = Open())
        {
            var problem = Assert.Single(store.Problems);
            Assert.Contains("rebuilt from blob", problem);
            string root = store.Driver.Mount(img.TopLayerId);
            Assert.Equal("data", File.ReadAllText(Path.Combine(root, "etc/m")));
            store.Driver.Unmount(img.TopLayerId);
        }
    }

    [Fact]
    public void Open_reports_a_corrupted_config_and_a_missing_blob_without_hiding_the_image()
    {
        ImageRecord img;
        using (var store = Open())
        {
            img = store.Import(Tar("x"), new ImportOptions { Reference = "img" });
            var layer = store.FindLayer(img.DiffIds[0])!;
            File.Delete(store.Content.PathOf(layer.BlobDigest!));
            File.AppendAllText(store.Content.PathOf(img.Id), " ");
        }
        using (var store = Open())
        {
            Assert.Contains(store.Problems, p => p.Contains("blob") && p.Contains("is missing"));
            Assert.Contains(store.Problems, p => p.Contains(img.Id) && p.Contains("does not match its digest"));
            Assert.Single(store.List());
        }
    }

    [Fact]
    public void ReconcileContainerLayers_removes_layers_whose_container_is_gone()
    {
        using var store = Open();
        var img = store.Import(Tar("x"), new ImportOptions { Reference = "img" });
        const string gone = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        const string live = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
        store.CreateContainerLayer(gone, img.Id);
        store.CreateContainerLayer(live, img.Id);
        store.ReconcileContainerLayers(new HashSet<string> { live });
        Assert.False(store.Driver.Exists(gone));
        Assert.True(store.Driver.Exists(live));
        Assert.Contains(store.Problems, p => p.Contains(gone));
    }
}
