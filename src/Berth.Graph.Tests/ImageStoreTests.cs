using System.Security.Cryptography;
using System.Text.Json;
using Berth.Graph.Drivers;
using Berth.Graph.References;

namespace Berth.Graph.Tests;

/// <summary>Graph semantics (import, lookup, tag, rmi, container layers, crash safety), run on each driver.</summary>
public abstract class ImageStoreTests : IDisposable
{
    protected readonly TempDir Tmp = new();
    ImageStore? _store;
    protected abstract string DriverName { get; }

    protected ImageStore Store
    {
        get
        {
            Root.Require();
            if (DriverName == "overlay2" && !Overlay2Driver.Probe(Tmp.Path, out var reason))
                Assert.Skip($"overlayfs unavailable here: {reason}");
            return _store ??= ImageStore.Open(Tmp.Path, DriverName);
        }
    }

    public void Dispose()
    {
        _store?.Dispose();
        Tmp.Dispose();
    }

    static byte[] Rootfs(string marker = "1") =>
        new TarBuilder().Dir("bin").File("bin/busybox", "ELF" + marker, (UnixFileMode)0x1ed).Symlink("bin/sh", "busybox")
            .Dir("etc").File("etc/hostname", marker).Bytes();

    ImageRecord Import(string? reference = null, string marker = "1", DateTimeOffset? created = null) =>
        Store.Import(new MemoryStream(Rootfs(marker)), new ImportOptions { Reference = reference, Created = created, Comment = "Imported from -" });

    static readonly Func<string, ImageUse> Unused = _ => ImageUse.None;

    [Fact]
    public void Import_of_plain_gzip_and_zstd_tars_yields_the_same_diff_id()
    {
        var tar = Rootfs();
        var t = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var a = Store.Import(new MemoryStream(tar), new ImportOptions { Created = t });
        var b = Store.Import(new MemoryStream(TarBuilder.Gzip(tar)), new ImportOptions { Created = t });
        var c = Store.Import(new MemoryStream(TarBuilder.Zstd(tar)), new ImportOptions { Created = t });
        string diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));
        Assert.All(new[] { a, b, c }, i => Assert.Equal([diffId], i.DiffIds));
        Assert.Equal(a.Id, b.Id); // same config bytes → same id
        Assert.Single(Store.List());
        Assert.Single(Store.Driver.List());
        Assert.Equal(2, Directory.GetFiles(Tmp.Combine("blobs", "sha256")).Length); // config + the first layer blob
    }

    /// <summary>Like an ASP.NET Core request body: synchronous reads are disallowed.</summary>
    sealed class AsyncOnlyStream(byte[] data) : Stream
    {
        readonly MemoryStream _data = new(data);
        public override int Read(byte[] buffer, int offset, int count) => throw new InvalidOperationException("Synchronous operations are disallowed.");
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            await Task.Yield();
            return _data.Read(buffer.Span[..Math.Min(buffer.Length, 1000)]);
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task ImportAsync_reads_a_source_that_forbids_synchronous_io()
    {
        var tar = TarBuilder.Gzip(Rootfs());
        var img = await Store.ImportAsync(new AsyncOnlyStream(tar), new ImportOptions { Reference = "async" }, TestContext.Current.CancellationToken);
        Assert.Equal(["async:latest"], img.RepoTags);
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(Rootfs())), img.DiffIds[0]);
    }

    [Fact]
    public async Task ImportAsync_of_hostile_tar_fails_and_stores_nothing()
    {
        var tar = new TarBuilder().File("../x", "x").Bytes();
        await Assert.ThrowsAsync<InvalidDataException>(() => Store.ImportAsync(new AsyncOnlyStream(tar), new ImportOptions(), TestContext.Current.CancellationToken));
        Assert.Empty(Store.Driver.List());
    }

    [Fact]
    public void Import_stores_an_oci_config_whose_digest_is_the_image_id()
    {
        var img = Store.Import(new MemoryStream(Rootfs()), new ImportOptions
        {
            Reference = "busybox", Comment = "Imported from -",
            Config = new ImageConfig { Cmd = ["sh"], Env = ["PATH=/bin"], ExposedPorts = new() { ["80/tcp"] = new() } },
        });
        var blob = Store.Content.ReadAll(img.Id);
        Assert.Equal(img.Id, ContentStore.Digest(blob));
        using var doc = JsonDocument.Parse(blob);
        var root = doc.RootElement;
        Assert.Equal("amd64", root.GetProperty("architecture").GetString());
        Assert.Equal("linux", root.GetProperty("os").GetString());
        Assert.Equal("layers", root.GetProperty("rootfs").GetProperty("type").GetString());
        Assert.Equal(img.DiffIds[0], root.GetProperty("rootfs").GetProperty("diff_ids")[0].GetString());
        Assert.Equal("sh", root.GetProperty("config").GetProperty("Cmd")[0].GetString());
        Assert.Equal(JsonValueKind.Object, root.GetProperty("config").GetProperty("ExposedPorts").GetProperty("80/tcp").ValueKind);
        Assert.Equal("Imported from -", root.GetProperty("history")[0].GetProperty("comment").GetString());
        Assert.Equal(["busybox:latest"], img.RepoTags);
        Assert.Equal(Rootfs().Length > 0, img.Size > 0);
        Assert.True(Store.Driver.Exists(img.TopLayerId));
    }

    [Fact]
    public void Find_accepts_names_ids_and_unique_prefixes()
    {
        var img = Import("busybox");
        string hex = img.Id[7..];
        foreach (var r in new[] { "busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest", img.Id, hex, hex[..12], "sha256:" + hex[..5], hex[..1] })
            Assert.Equal(img.Id, Store.Find(r)?.Id);
        Assert.Null(Store.Find("busybox:other"));
        Assert.Null(Store.Find("nothere"));
    }

    [Fact]
    public void Find_with_an_ambiguous_prefix_throws_a_clear_error()
    {
        var seen = new Dictionary<char, string>();
        for (int i = 0; ; i++)
        {
            var img = Import(marker: i.ToString());
            char first = img.Id[7];
            if (seen.ContainsKey(first))
            {
                var e = Assert.Throws<AmbiguousReferenceException>(() => Store.Find(first.ToString()));
                Assert.Contains("ambiguous", e.Message);
                return;
            }
            seen[first] = img.Id;
        }
    }

    [Fact]
    public void Tag_adds_names_and_moves_existing_ones()
    {
        var a = Import("app:v1", "a");
        var b = Import(null, "b");
        Store.Tag(a.Id, "localhost:5000/team/app:v2");
        Store.Tag(a.Id[7..19], "docker.io/library/other");
        Assert.Equal(["app:v1", "localhost:5000/team/app:v2", "other:latest"], Store.Find(a.Id)!.RepoTags.Order().ToArray());
        Store.Tag(b.Id, "app:v1");
        Assert.Equal(b.Id, Store.Find("app:v1")!.Id);
        Assert.DoesNotContain("app:v1", Store.Find(a.Id)!.RepoTags);
    }

    [Fact]
    public void Digest_references_resolve_and_go_with_the_repository_s_last_tag()
    {
        var img = Import("app:v1");
        Store.Tag(img.Id, "other:v1");
        string digest = "sha256:" + new string('d', 64);
        Store.AddDigestReference(img.Id, "app@" + digest);
        Assert.Equal([$"app@{digest}"], Store.Find(img.Id)!.RepoDigests);
        Assert.Equal(img.Id, Store.Find($"docker.io/library/app@{digest}")!.Id);
        Assert.Throws<InvalidReferenceException>(() => Store.AddDigestReference(img.Id, "app:v2"));

        var result = Store.Delete("app:v1", false, Unused);
        Assert.Equal([new ImageDeleteItem("app:v1", null), new ImageDeleteItem($"app@{digest}", null)], result);
        Assert.Empty(Store.Find(img.Id)!.RepoDigests);
        Assert.Equal(["other:v1"], Store.Find(img.Id)!.RepoTags);
    }

    [Fact]
    public void Tag_of_missing_image_throws_no_such_image()
    {
        var e = Assert.Throws<NotFoundException>(() => Store.Tag("nope", "x"));
        Assert.Equal("No such image: nope:latest", e.Message);
        Assert.Throws<InvalidReferenceException>(() => Store.Tag(Import("a").Id, "Bad:Name"));
    }

    [Fact]
    public void Import_with_invalid_reference_stores_nothing()
    {
        Assert.Throws<InvalidReferenceException>(() => Store.Import(new MemoryStream(Rootfs()), new ImportOptions { Reference = "UPPER" }));
        Assert.Empty(Store.List());
        Assert.Empty(Store.Driver.List());
    }

    [Fact]
    public void Delete_by_tag_only_untags_while_other_tags_remain()
    {
        var img = Import("a:1");
        Store.Tag(img.Id, "b:1");
        var result = Store.Delete("a:1", false, Unused);
        Assert.Equal([new ImageDeleteItem("a:1", null)], result);
        Assert.Equal(["b:1"], Store.Find(img.Id)!.RepoTags);
    }

    [Fact]
    public void Delete_of_last_tag_deletes_image_layer_and_blobs()
    {
        var img = Import("busybox");
        string layer = img.TopLayerId;
        var result = Store.Delete("busybox", false, Unused);
        Assert.Equal(new ImageDeleteItem("busybox:latest", null), result[0]);
        Assert.Equal(new ImageDeleteItem(null, img.Id), result[1]);
        Assert.Equal(new ImageDeleteItem(null, img.DiffIds[0]), result[2]);
        Assert.Null(Store.Find(img.Id));
        Assert.False(Store.Driver.Exists(layer));
        Assert.Empty(Directory.GetFiles(Tmp.Combine("blobs", "sha256")));
    }

    [Fact]
    public void Delete_by_id_referenced_in_several_repositories_needs_force()
    {
        var img = Import("a");
        Store.Tag(img.Id, "b");
        var e = Assert.Throws<ConflictException>(() => Store.Delete(img.Id[7..19], false, Unused));
        Assert.Equal($"conflict: unable to delete {img.Id[7..19]} (must be forced) - image is referenced in multiple repositories", e.Message);
        var result = Store.Delete(img.Id[7..19], true, Unused);
        Assert.Equal(["a:latest", "b:latest"], result.Where(r => r.Untagged is not null).Select(r => r.Untagged!).Order().ToArray());
        Assert.Contains(new ImageDeleteItem(null, img.Id), result);
        Assert.Empty(Store.List());
    }

    [Fact]
    public void Delete_by_id_with_a_single_tag_untags_and_deletes()
    {
        var img = Import("a");
        var result = Store.Delete(img.Id, false, Unused);
        Assert.Equal(new ImageDeleteItem("a:latest", null), result[0]);
        Assert.Equal(new ImageDeleteItem(null, img.Id), result[1]);
    }

    [Fact]
    public void Delete_of_image_used_by_containers_reports_docker_conflicts()
    {
        var img = Import("busybox");
        string cid = new('c', 64);
        var e = Assert.Throws<ConflictException>(() => Store.Delete(img.Id, false, _ => ImageUse.Stopped(cid)));
        Assert.Equal($"conflict: unable to delete {img.Id[7..19]} (must be forced) - image is being used by stopped container cccccccccccc", e.Message);
        e = Assert.Throws<ConflictException>(() => Store.Delete(img.Id, true, _ => ImageUse.Running(cid)));
        Assert.Equal($"conflict: unable to delete {img.Id[7..19]} (cannot be forced) - image is being used by running container cccccccccccc", e.Message);
        e = Assert.Throws<ConflictException>(() => Store.Delete("busybox", false, _ => ImageUse.Stopped(cid)));
        Assert.Equal($"conflict: unable to remove repository reference \"busybox\" (must force) - container cccccccccccc is using its referenced image {img.Id[7..19]}", e.Message);
        Assert.NotNull(Store.Find("busybox"));
    }

    [Fact]
    public void Delete_of_missing_image_throws_no_such_image()
    {
        var e = Assert.Throws<NotFoundException>(() => Store.Delete("alpine", false, Unused));
        Assert.Equal("No such image: alpine:latest", e.Message);
    }

    [Fact]
    public void Container_layer_is_writable_and_outlives_a_forced_image_delete()
    {
        var img = Import("busybox");
        string cid = new('1', 64);
        Store.CreateContainerLayer(cid, "busybox");
        string rootfs = Store.MountContainer(cid);
        Assert.Equal("1", File.ReadAllText(Path.Combine(rootfs, "etc/hostname")));
        File.WriteAllText(Path.Combine(rootfs, "etc/hostname"), "c1");
        Store.UnmountContainer(cid);

        Store.Delete("busybox", true, _ => ImageUse.Stopped(cid));
        Assert.Null(Store.Find(img.Id));
        Assert.True(Store.Driver.Exists(img.TopLayerId)); // the container still stands on it

        rootfs = Store.MountContainer(cid);
        Assert.Equal("c1", File.ReadAllText(Path.Combine(rootfs, "etc/hostname")));
        Assert.Equal("ELF1", File.ReadAllText(Path.Combine(rootfs, "bin/busybox")));
        Store.UnmountContainer(cid);

        Store.RemoveContainerLayer(cid);
        Store.RemoveContainerLayer(cid);
        Assert.False(Store.Driver.Exists(img.TopLayerId));
        Assert.Empty(Store.Driver.List());
        Assert.Empty(TempDir.MountsUnder(Tmp.Path));
    }

    [Fact]
    public void Container_layer_for_missing_image_throws_not_found()
    {
        Assert.Throws<NotFoundException>(() => Store.CreateContainerLayer(new string('2', 64), "missing"));
        Assert.Throws<NotFoundException>(() => Store.MountContainer(new string('2', 64)));
    }

    [Fact]
    public void Open_cleans_stale_temp_files_and_unrecorded_layers_and_keeps_images()
    {
        var img = Import("busybox");
        _store!.Dispose();
        _store = null;
        string stale = Tmp.Combine("tmp", "blob-stale");
        File.WriteAllText(stale, "partial");
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddDays(-1));
        var driver = GraphDrivers.Create(Tmp.Path, DriverName);
        driver.Create("orphan", null); // as if a crash hit between extraction and the DB commit

        var reopened = Store;
        Assert.False(File.Exists(stale));
        Assert.False(reopened.Driver.Exists("orphan"));
        Assert.Equal(img.Id, reopened.Find("busybox")!.Id);
        Assert.True(reopened.Driver.Exists(img.TopLayerId));
    }

    [Fact]
    public void Images_of_another_driver_are_kept_but_not_listed()
    {
        Import("busybox");
        _store!.Dispose();
        string other = DriverName == "vfs" ? "overlay2" : "vfs";
        if (other == "overlay2" && !Overlay2Driver.Probe(Tmp.Path, out var reason)) Assert.Skip($"overlayfs unavailable here: {reason}");
        using (var s = ImageStore.Open(Tmp.Path, other)) Assert.Empty(s.List());
        _store = ImageStore.Open(Tmp.Path, DriverName);
        Assert.NotNull(_store.Find("busybox"));
    }
}

public sealed class VfsImageStoreTests : ImageStoreTests
{
    protected override string DriverName => "vfs";
}

public sealed class Overlay2ImageStoreTests : ImageStoreTests
{
    protected override string DriverName => "overlay2";
}

public sealed class DriverSelectionTests : IDisposable
{
    readonly TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Unknown_driver_name_is_rejected_with_the_supported_list()
    {
        var e = Assert.Throws<ArgumentException>(() => ImageStore.Open(_tmp.Path, "aufs"));
        Assert.Equal("unknown storage driver \"aufs\" (supported: overlay2, btrfs, vfs)", e.Message);
    }

    [Fact]
    public void Default_driver_is_overlay2_where_overlayfs_works()
    {
        Root.Require();
        bool overlay = Overlay2Driver.Probe(_tmp.Path, out _);
        using var s = ImageStore.Open(_tmp.Path, null);
        Assert.Equal(overlay ? "overlay2" : "vfs", s.Driver.Name);
        Assert.NotEmpty(s.Driver.Name == "overlay2" ? s.Driver.Status : [new("", "")]);
    }
}
