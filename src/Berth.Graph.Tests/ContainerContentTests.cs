using System.Formats.Tar;

namespace Berth.Graph.Tests;

/// <summary>diff, export and commit of a container layer, on each driver.</summary>
public abstract class ContainerContentTests : StoreOnDriverTests
{
    const string Cid = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

    /// <summary>An image with /etc/{keep,change,remove} and /old/{a,b}, and a container that adds, changes and deletes.</summary>
    ImageRecord ChangedContainer()
    {
        var tar = new TarBuilder().Dir("etc").File("etc/keep", "k").File("etc/change", "1").File("etc/remove", "r")
            .Dir("old").File("old/a", "a").File("old/b", "b").Bytes();
        var img = Store.Import(new MemoryStream(tar), new ImportOptions { Reference = "base" });
        Store.CreateContainerLayer(Cid, img.Id);
        string root = Store.MountContainer(Cid);
        try
        {
            File.WriteAllText(Path.Combine(root, "etc/change"), "two");
            File.Delete(Path.Combine(root, "etc/remove"));
            Directory.Delete(Path.Combine(root, "old"), recursive: true);
            Directory.CreateDirectory(Path.Combine(root, "new"));
            File.WriteAllText(Path.Combine(root, "new/file"), "n");
        }
        finally { Store.UnmountContainer(Cid); }
        return img;
    }

    [Fact]
    public void ContainerChanges_lists_added_changed_and_deleted_paths_like_docker_diff()
    {
        ChangedContainer();
        var changes = Store.ContainerChanges(Cid).Select(c => $"{c.Kind} {c.Path}").ToList();
        Assert.Equal(["Modified /etc", "Modified /etc/change", "Deleted /etc/remove", "Added /new", "Added /new/file", "Deleted /old"], changes);
    }

    [Fact]
    public void CommitContainer_makes_a_child_image_whose_new_layer_holds_the_changes()
    {
        var baseImg = ChangedContainer();
        var img = Store.CommitContainer(Cid, new CommitOptions
        {
            Config = new ImageConfig { Cmd = ["sh"], Env = ["A=1"] }, Comment = "msg", Author = "me", CreatedBy = "sh", Reference = "committed:v1",
        });
        Assert.Equal(["committed:v1"], img.RepoTags);
        Assert.Equal(baseImg.Id, img.Parent);
        Assert.Equal(2, img.DiffIds.Count);
        Assert.Equal(baseImg.DiffIds[0], img.DiffIds[0]);
        Assert.Equal(["sh"], img.Config.Cmd);
        Assert.Equal("msg", img.Comment);
        Assert.Equal(2, img.History.Count);

        var layerTar = new MemoryStream();
        using (var s = Store.OpenLayerTar(ImageStore.ChainId(img.DiffIds))) s.CopyTo(layerTar);
        var names = new List<string>();
        using (var r = new TarReader(new MemoryStream(layerTar.ToArray())))
            while (r.GetNextEntry() is { } e) names.Add(e.Name);
        Assert.Contains("etc/.wh.remove", names);
        Assert.Contains(".wh.old", names);
        Assert.Contains("new/file", names);
        Assert.DoesNotContain("etc/keep", names);

        string root = Store.Driver.Mount(img.TopLayerId);
        try
        {
            Assert.Equal("two", File.ReadAllText(Path.Combine(root, "etc/change")));
            Assert.Equal("k", File.ReadAllText(Path.Combine(root, "etc/keep")));
            Assert.False(File.Exists(Path.Combine(root, "etc/remove")));
            Assert.False(Directory.Exists(Path.Combine(root, "old")));
            Assert.Equal("n", File.ReadAllText(Path.Combine(root, "new/file")));
        }
        finally { Store.Driver.Unmount(img.TopLayerId); }
        Assert.Throws<ConflictException>(() => Store.Delete(baseImg.Id, force: true, _ => ImageUse.None));
    }

    [Fact]
    public void Sizes_count_file_content_of_the_layer_and_of_what_the_container_added_or_changed()
    {
        var img = ChangedContainer();
        Assert.Equal(5, img.Size); // k + 1 + r + a + b
        Assert.Equal(3 + 1, Store.ContainerLayerSize(Cid)); // "two" + "n"
    }

    [Fact]
    public void ExportContainer_writes_the_merged_filesystem()
    {
        ChangedContainer();
        var ms = new MemoryStream();
        Store.ExportContainer(Cid, ms);
        var files = new Dictionary<string, string>();
        using (var r = new TarReader(new MemoryStream(ms.ToArray())))
            while (r.GetNextEntry() is { } e)
                files[e.Name] = e.DataStream is null ? "" : new StreamReader(e.DataStream).ReadToEnd();
        Assert.Equal("two", files["etc/change"]);
        Assert.Equal("k", files["etc/keep"]);
        Assert.Equal("n", files["new/file"]);
        Assert.DoesNotContain("etc/remove", files.Keys);
        Assert.DoesNotContain(files.Keys, k => k.StartsWith("old", StringComparison.Ordinal));
        Assert.DoesNotContain(TempDir.MountsUnder(Tmp.Path), m => m.EndsWith("/merged", StringComparison.Ordinal));
    }
}

public sealed class VfsContainerContentTests : ContainerContentTests
{
    protected override string DriverName => "vfs";
}

public sealed class Overlay2ContainerContentTests : ContainerContentTests
{
    protected override string DriverName => "overlay2";
}

public sealed class BtrfsContainerContentTests(BtrfsVolume volume) : ContainerContentTests, IClassFixture<BtrfsVolume>
{
    string? _root;
    protected override string DriverName => "btrfs";
    protected override string DataRoot => _root ??= volume.NewRoot();
}
