using System.Diagnostics;
using Berth.Graph.Drivers;

namespace Berth.Graph.Tests;

/// <summary>
/// End to end with real tools: GNU tar packs a busybox rootfs (as <c>docker import</c> users do), Berth
/// imports it, and a container layer on top of it is a rootfs busybox can actually run in (via chroot).
/// </summary>
public abstract class BusyboxImportTests : IDisposable
{
    readonly TempDir _tmp = new();
    protected abstract string DriverName { get; }
    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Gnu_tar_of_busybox_rootfs_imports_and_runs_in_a_container_layer()
    {
        Root.Require();
        if (!File.Exists("/bin/busybox") || !File.Exists("/usr/bin/tar") || !File.Exists("/usr/sbin/chroot"))
            Assert.Skip("needs /bin/busybox, GNU tar and chroot");
        string data = _tmp.Combine("data");
        if (DriverName == "overlay2" && !Overlay2Driver.Probe(data, out var reason)) Assert.Skip($"overlayfs unavailable here: {reason}");

        string rootfs = _tmp.Combine("rootfs");
        Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin/busybox"));
        foreach (var app in new[] { "sh", "echo", "cat", "ls" })
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", app), "busybox");
        File.WriteAllText(Path.Combine(rootfs, "etc/hostname"), "from-image\n");
        string tarPath = _tmp.Combine("rootfs.tgz");
        Tool.Run("/usr/bin/tar", "-C", rootfs, "-czf", tarPath, ".");

        using var store = ImageStore.Open(data, DriverName);
        ImageRecord img;
        using (var f = File.OpenRead(tarPath))
            img = store.Import(f, new ImportOptions { Reference = "busybox:test", Comment = "Imported from -" });
        Assert.Equal(["busybox:test"], img.RepoTags);
        Assert.True(img.Size >= new FileInfo("/bin/busybox").Length);

        string cid = new('a', 64);
        store.CreateContainerLayer(cid, img.Id);
        string root = store.MountContainer(cid);
        try
        {
            Assert.Equal("from-image\nhello\n", Tool.Run("/usr/sbin/chroot", root, "/bin/sh", "-c", "cat /etc/hostname; echo hello > /tmp-file; cat /tmp-file"));
        }
        finally
        {
            store.UnmountContainer(cid);
        }
        store.RemoveContainerLayer(cid);
        var deleted = store.Delete("busybox:test", false, _ => ImageUse.None);
        Assert.Contains(new ImageDeleteItem(null, img.Id), deleted);
        Assert.Empty(store.Driver.List());
    }
}

public sealed class VfsBusyboxImportTests : BusyboxImportTests
{
    protected override string DriverName => "vfs";
}

public sealed class Overlay2BusyboxImportTests : BusyboxImportTests
{
    protected override string DriverName => "overlay2";
}
