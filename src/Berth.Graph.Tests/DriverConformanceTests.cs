using Berth.Graph.Drivers;
using Berth.Interop;

namespace Berth.Graph.Tests;

/// <summary>The behaviour every graph driver must show; one derived class per driver.</summary>
public abstract class DriverConformanceTests : IDisposable
{
    protected readonly TempDir Tmp = new();
    IGraphDriver? _driver;

    protected abstract IGraphDriver CreateDriver(string dataRoot);

    protected IGraphDriver Driver
    {
        get
        {
            Root.Require();
            return _driver ??= CreateDriver(Tmp.Path);
        }
    }

    public void Dispose() => Tmp.Dispose();

    void Layer(string id, string? parent, TarBuilder? diff = null)
    {
        Driver.Create(id, parent);
        if (diff is not null) Driver.ApplyDiff(id, diff.Stream());
    }

    [Fact]
    public void Mount_is_reference_counted()
    {
        Layer("base", null, new TarBuilder().File("a", "A"));
        Layer("top", "base");
        string m1 = Driver.Mount("top");
        string m2 = Driver.Mount("top");
        Assert.Equal(m1, m2);
        Driver.Unmount("top");
        Assert.Equal("A", File.ReadAllText(Path.Combine(m1, "a")));
        Driver.Unmount("top");
        Driver.Unmount("top"); // one too many is harmless
        Assert.Empty(TempDir.MountsUnder(Tmp.Path));
    }

    [Fact]
    public void Child_layer_sees_parent_and_its_writes_stay_in_the_child()
    {
        Layer("base", null, new TarBuilder().Dir("etc").File("etc/hostname", "base"));
        Layer("rw", "base");
        string rw = Driver.Mount("rw");
        Assert.Equal("base", File.ReadAllText(Path.Combine(rw, "etc/hostname")));
        File.WriteAllText(Path.Combine(rw, "etc/hostname"), "changed");
        File.WriteAllText(Path.Combine(rw, "new"), "n");
        string b = Driver.Mount("base");
        Assert.Equal("base", File.ReadAllText(Path.Combine(b, "etc/hostname")));
        Assert.False(File.Exists(Path.Combine(b, "new")));
        Driver.Unmount("base");
        Driver.Unmount("rw");
    }

    [Fact]
    public void ApplyDiff_applies_whiteouts_and_opaque_dirs()
    {
        Layer("l1", null, new TarBuilder().File("a", "A").Dir("d").File("d/x", "X").File("d/y", "Y").File("keep", "K").Dir("e").File("e/f", "F"));
        Layer("l2", "l1", new TarBuilder().File(".wh.a", "").Dir("d").File("d/.wh..wh..opq", "").File("d/z", "Z").File("e/.wh.f", ""));
        Layer("l3", "l2");
        string m = Driver.Mount("l3");
        Assert.False(File.Exists(Path.Combine(m, "a")));
        Assert.Equal(["z"], Directory.GetFileSystemEntries(Path.Combine(m, "d")).Select(p => Path.GetFileName(p)).ToArray());
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(m, "e")));
        Assert.Equal("K", File.ReadAllText(Path.Combine(m, "keep")));
        Driver.Unmount("l3");
    }

    [Fact]
    public void Opaque_marker_after_new_entries_hides_only_lower_entries()
    {
        Layer("l1", null, new TarBuilder().Dir("d").File("d/old", "O").Dir("d/olddir").File("d/olddir/x", "X"));
        Layer("l2", "l1", new TarBuilder().Dir("d").File("d/new/deep", "D").File("d/.wh..wh..opq", ""));
        Layer("l3", "l2");
        string m = Driver.Mount("l3");
        Assert.Equal(["new"], Directory.GetFileSystemEntries(Path.Combine(m, "d")).Select(p => Path.GetFileName(p)).ToArray());
        Assert.Equal("D", File.ReadAllText(Path.Combine(m, "d/new/deep")));
        Driver.Unmount("l3");
    }

    [Fact]
    public void ApplyDiff_preserves_modes_owners_times_links_devices_and_xattrs()
    {
        var mtime = new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);
        Layer("l1", null, new TarBuilder()
            .Dir("bin", (UnixFileMode)0x1c0, uid: 7, gid: 8, mtime: mtime)
            .File("bin/tool", "#!/bin/sh\n", (UnixFileMode)0x9ed /* 04755 */, uid: 1000, gid: 1001, mtime: mtime,
                pax: new() { ["SCHILY.xattr.user.origin"] = "test" })
            .Symlink("bin/sh", "tool")
            .HardLink("bin/tool2", "bin/tool")
            .CharDevice("null", 1, 3)
            .Fifo("pipe"));
        Layer("l2", "l1");
        string m = Driver.Mount("l2");
        var dir = LibC.LStat(Path.Combine(m, "bin"));
        Assert.Equal(0x1c0u, dir.Mode & 0xfffu);
        Assert.Equal((7u, 8u), (dir.Uid, dir.Gid));
        Assert.Equal(mtime, dir.Mtime.ToDateTimeOffset());
        var tool = LibC.LStat(Path.Combine(m, "bin/tool"));
        Assert.Equal(0x9edu, tool.Mode & 0xfffu);
        Assert.Equal((1000u, 1001u), (tool.Uid, tool.Gid));
        Assert.Equal(mtime, tool.Mtime.ToDateTimeOffset());
        Assert.Equal("test"u8.ToArray(), FileMeta.GetXattr(Path.Combine(m, "bin/tool"), "user.origin"));
        Assert.Equal("tool", new FileInfo(Path.Combine(m, "bin/sh")).LinkTarget);
        var tool2 = LibC.LStat(Path.Combine(m, "bin/tool2"));
        Assert.Equal(tool.Ino, tool2.Ino);
        Assert.Equal(2u, tool2.Nlink);
        var dev = LibC.LStat(Path.Combine(m, "null"));
        Assert.Equal(LibC.S_IFCHR, dev.FileType);
        Assert.Equal((1u, 3u), (dev.RdevMajor, dev.RdevMinor));
        Assert.Equal(LibC.S_IFIFO, LibC.LStat(Path.Combine(m, "pipe")).FileType);
        Driver.Unmount("l2");
    }

    [Fact]
    public void ApplyDiff_keeps_binary_xattr_values_byte_for_byte()
    {
        // TarWriter only writes text values, so write a placeholder and patch in non-UTF-8 bytes.
        var tar = new TarBuilder().File("f", "x", pax: new() { ["SCHILY.xattr.user.bin"] = "QQQQ" }).Bytes();
        int at = tar.AsSpan().IndexOf("QQQQ"u8);
        byte[] value = [0xff, 0x00, 0x80, 0x01];
        value.CopyTo(tar, at);
        Driver.Create("l1", null);
        Driver.ApplyDiff("l1", new MemoryStream(tar));
        string m = Driver.Mount("l1");
        Assert.Equal(value, FileMeta.GetXattr(Path.Combine(m, "f"), "user.bin"));
        Driver.Unmount("l1");
    }

    [Fact]
    public void ApplyDiff_returns_bytes_of_file_content()
    {
        Driver.Create("l1", null);
        long n = Driver.ApplyDiff("l1", new TarBuilder().File("a", "12345").Dir("d").File("d/b", "678").Symlink("s", "a").Stream());
        Assert.Equal(8, n);
    }

    [Fact]
    public void Remove_unmounts_and_deletes_and_is_idempotent()
    {
        Layer("base", null, new TarBuilder().File("a", "A"));
        Layer("top", "base");
        Driver.Mount("top");
        Driver.Remove("top");
        Assert.False(Driver.Exists("top"));
        Assert.Empty(TempDir.MountsUnder(Tmp.Path));
        Driver.Remove("top");
        Assert.True(Driver.Exists("base"));
        Assert.Equal(["base"], Driver.List());
    }

    [Fact]
    public void Deep_layer_chains_mount_with_every_layer_visible()
    {
        Layer("l0", null, new TarBuilder().File("f0", "0"));
        for (int i = 1; i < 60; i++)
            Layer($"l{i}", $"l{i - 1}", new TarBuilder().File($"f{i}", i.ToString()));
        string m = Driver.Mount("l59");
        for (int i = 0; i < 60; i++) Assert.Equal(i.ToString(), File.ReadAllText(Path.Combine(m, $"f{i}")));
        Driver.Unmount("l59");
    }

    /// <summary>
    /// A base layer, and a child layer changed through its mount in every way a container can: content, deletions
    /// of files and whole directories, a directory replaced by a fresh one (opaque on overlay2), hard links,
    /// setuid and sticky modes, owners, mtimes, device nodes, fifos, symlinks, binary user.* and trusted.* xattrs.
    /// </summary>
    void ChangedChild()
    {
        Layer("base", null, new TarBuilder().Dir("etc").File("etc/keep", "k").File("etc/change", "1").File("etc/remove", "r")
            .Dir("old").File("old/a", "a").Dir("old/sub").File("old/sub/b", "b")
            .Dir("re").File("re/gone", "g").File("re/kept-name", "old")
            .File("bin/tool", "t").File("meta", "m"));
        Layer("rw", "base");
        string m = Driver.Mount("rw");
        try
        {
            File.WriteAllText(Path.Combine(m, "etc/change"), "two");
            File.Delete(Path.Combine(m, "etc/remove"));
            Directory.Delete(Path.Combine(m, "old"), recursive: true);
            Directory.Delete(Path.Combine(m, "re"), recursive: true);
            Directory.CreateDirectory(Path.Combine(m, "re"));
            File.WriteAllText(Path.Combine(m, "re/kept-name"), "new");
            File.WriteAllText(Path.Combine(m, "new"), "n");
            LibC.Check(LibC.Link(Path.Combine(m, "new"), Path.Combine(m, "new-link")), "link");
            File.SetUnixFileMode(Path.Combine(m, "bin/tool"), (UnixFileMode)0xded /* 06755 */);
            Directory.CreateDirectory(Path.Combine(m, "tmp"));
            File.SetUnixFileMode(Path.Combine(m, "tmp"), (UnixFileMode)0x3ff /* 01777 */);
            LibC.Check(LibC.LChown(Path.Combine(m, "meta"), 123, 456), "lchown");
            FileMeta.SetTimes(Path.Combine(m, "meta"), DateTimeOffset.UnixEpoch, new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero).AddTicks(1234567));
            LibC.Check(LibC.Mknod(Path.Combine(m, "zero"), LibC.S_IFCHR | 0x1b6, LibC.MakeDev(1, 5)), "mknod");
            LibC.Check(LibC.Mknod(Path.Combine(m, "loop9"), LibC.S_IFBLK | 0x1a0, LibC.MakeDev(7, 9)), "mknod");
            LibC.Check(LibC.Mknod(Path.Combine(m, "fifo"), LibC.S_IFIFO | 0x1a4, 0), "mknod");
            File.CreateSymbolicLink(Path.Combine(m, "link-to-etc"), "etc/keep");
            FileMeta.SetXattr(Path.Combine(m, "new"), "user.bin", [0xff, 0x00, 0x80, 0x01]);
            FileMeta.SetXattr(Path.Combine(m, "new"), "trusted.berth", [0xc3, 0x28, 0x00]);
            FileMeta.SetXattr(Path.Combine(m, "etc/keep"), "user.text", "hello"u8);
        }
        finally { Driver.Unmount("rw"); }
    }

    [Fact]
    public void Changes_list_what_the_child_added_changed_and_deleted()
    {
        ChangedChild();
        var changes = Driver.Changes("rw", "base").Select(c => $"{c.Kind} {c.Path}").ToList();
        Assert.Equal([
            "Modified /bin", "Modified /bin/tool", "Modified /etc", "Modified /etc/change", "Modified /etc/keep", "Deleted /etc/remove",
            "Added /fifo", "Added /link-to-etc", "Added /loop9", "Modified /meta", "Added /new", "Added /new-link", "Deleted /old",
            "Modified /re", "Deleted /re/gone", "Modified /re/kept-name", "Added /tmp", "Added /zero",
        ], changes);
    }

    [Fact]
    public void WriteDiff_then_ApplyDiff_on_the_same_parent_reproduces_the_child()
    {
        ChangedChild();
        var tar = new MemoryStream();
        Driver.WriteDiff("rw", "base", tar);
        tar.Position = 0;
        Layer("copy", "base");
        Driver.ApplyDiff("copy", tar);
        Layer("copy-top", "copy"); // what a container on the re-imported layer sees
        string child = Driver.Mount("rw"), copy = Driver.Mount("copy-top");
        try
        {
            Assert.Equal(Tree.Describe(child), Tree.Describe(copy));
        }
        finally
        {
            Driver.Unmount("rw");
            Driver.Unmount("copy-top");
        }
    }

    [Fact]
    public void Create_rejects_missing_parent_and_duplicate_id()
    {
        Assert.Throws<NotFoundException>(() => Driver.Create("x", "nope"));
        Driver.Create("y", null);
        Assert.Throws<InvalidOperationException>(() => Driver.Create("y", null));
        Assert.Throws<ArgumentException>(() => Driver.Create("../evil", null));
    }
}

public sealed class VfsDriverTests : DriverConformanceTests
{
    protected override IGraphDriver CreateDriver(string dataRoot) => new VfsDriver(dataRoot);
}

public sealed class Overlay2DriverTests : DriverConformanceTests
{
    protected override IGraphDriver CreateDriver(string dataRoot)
    {
        if (!Overlay2Driver.Probe(dataRoot, out var reason)) Assert.Skip($"overlayfs unavailable here: {reason}");
        return new Overlay2Driver(dataRoot);
    }

    [Fact]
    public void Whiteouts_are_stored_in_overlay_native_form()
    {
        Driver.Create("l1", null);
        Driver.Create("l2", "l1");
        Driver.ApplyDiff("l2", new TarBuilder().File(".wh.gone", "").Dir("d").File("d/.wh..wh..opq", "").Stream());
        string diff = Path.Combine(Tmp.Path, "overlay2", "l2", "diff");
        var st = LibC.LStat(Path.Combine(diff, "gone"));
        Assert.Equal((LibC.S_IFCHR, 0u, 0u), (st.FileType, st.RdevMajor, st.RdevMinor));
        Assert.Equal("y"u8.ToArray(), FileMeta.GetXattr(Path.Combine(diff, "d"), "trusted.overlay.opaque"));
    }

    [Fact]
    public void Metadata_names_the_overlay_directories()
    {
        Driver.Create("l1", null);
        Driver.Create("l2", "l1");
        Driver.Create("l3", "l2");
        var md = Driver.Metadata("l3");
        string home = Path.Combine(Tmp.Path, "overlay2");
        Assert.Equal($"{home}/l2/diff:{home}/l1/diff", md["LowerDir"]);
        Assert.Equal($"{home}/l3/diff", md["UpperDir"]);
        Assert.Equal($"{home}/l3/merged", md["MergedDir"]);
        Assert.Equal($"{home}/l3/work", md["WorkDir"]);
    }

    [Fact]
    public void Unmount_after_restart_unmounts_an_overlay_left_mounted()
    {
        Driver.Create("l1", null);
        Driver.Create("l2", "l1");
        string merged = Driver.Mount("l2");
        var restarted = new Overlay2Driver(Tmp.Path);
        Assert.Equal(merged, restarted.Mount("l2")); // adopts the existing mount
        restarted.Unmount("l2");
        Assert.Empty(TempDir.MountsUnder(Tmp.Path));
        restarted.Mount("l2");
        new Overlay2Driver(Tmp.Path).Remove("l2");
        Assert.Empty(TempDir.MountsUnder(Tmp.Path));
    }
}

public sealed class BtrfsDriverTests(BtrfsVolume volume) : DriverConformanceTests, IClassFixture<BtrfsVolume>
{
    protected override IGraphDriver CreateDriver(string dataRoot) => new BtrfsDriver(volume.NewRoot());

    [Fact]
    public void Layers_are_subvolumes_and_removal_deletes_them()
    {
        Driver.Create("l1", null);
        Driver.ApplyDiff("l1", new TarBuilder().File("a", "A").Stream());
        Driver.Create("l2", "l1");
        string l2 = Driver.Mount("l2");
        // A subvolume's root directory is always inode 256; a plain directory never is.
        Assert.Equal(256ul, LibC.LStat(l2).Ino);
        Assert.Equal("A", File.ReadAllText(Path.Combine(l2, "a")));
        Driver.Unmount("l2");
        Driver.Remove("l2");
        Driver.Remove("l1");
        Assert.Empty(Driver.List());
    }

    [Fact]
    public void Refuses_a_data_root_that_is_not_btrfs()
    {
        Root.Require();
        var e = Assert.Throws<ArgumentException>(() => new BtrfsDriver(Tmp.Path));
        Assert.Contains("not btrfs", e.Message);
    }
}
