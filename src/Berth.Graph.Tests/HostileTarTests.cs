using Berth.Graph.Drivers;

namespace Berth.Graph.Tests;

/// <summary>Each tar in the corpus tries to write outside the layer; each must be refused with nothing stored.</summary>
public abstract class HostileTarTests : IDisposable
{
    readonly TempDir _tmp = new();
    protected abstract string DriverName { get; }
    public void Dispose() => _tmp.Dispose();

    string Outside => _tmp.Combine("outside");
    string Data => _tmp.Combine("data");

    public static TheoryData<string> Cases => new(Corpus.Keys);

    static readonly Dictionary<string, Func<string, TarBuilder>> Corpus = new()
    {
        ["dotdot path"] = o => new TarBuilder().File("../escape", "x"),
        ["nested dotdot path"] = o => new TarBuilder().Dir("a").File("a/../../escape", "x"),
        ["absolute path climbing out"] = o => new TarBuilder().File("/../../escape", "x"),
        ["relative symlink escaping the root"] = o => new TarBuilder().Dir("a").Symlink("a/up", "../../.."),
        ["write through absolute symlink"] = o => new TarBuilder().Symlink("link", o).File("link/escape", "x"),
        ["write through relative symlink"] = o => new TarBuilder().Symlink("link", ".").File("link/escape", "x"),
        ["dir replaced by symlink then written through"] = o => new TarBuilder().Dir("d").Symlink("d", o).File("d/escape", "x"),
        ["hardlink climbing out"] = o => new TarBuilder().HardLink("h", "../outside/secret"),
        ["hardlink to absolute host path"] = o => new TarBuilder().HardLink("h", o + "/secret"),
        ["hardlink through symlink"] = o => new TarBuilder().Symlink("s", o).HardLink("h", "s/secret"),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Import_rejects_hostile_tar_and_stores_nothing(string name)
    {
        Root.Require();
        if (DriverName == "overlay2" && !Overlay2Driver.Probe(Data, out var reason)) Assert.Skip($"overlayfs unavailable here: {reason}");
        Directory.CreateDirectory(Outside);
        File.WriteAllText(Path.Combine(Outside, "secret"), "s");
        using var store = ImageStore.Open(Data, DriverName);

        var e = Assert.Throws<InvalidDataException>(() =>
            store.Import(Corpus[name](Outside).Stream(), new ImportOptions { Reference = "evil" }));

        Assert.StartsWith("refusing to extract", e.Message);
        Assert.Equal(["secret"], Directory.GetFileSystemEntries(Outside).Select(p => Path.GetFileName(p)).ToArray());
        Assert.Equal("s", File.ReadAllText(Path.Combine(Outside, "secret")));
        Assert.False(File.Exists(_tmp.Combine("escape")));
        Assert.Empty(store.List());
        Assert.Empty(store.Driver.List());
        Assert.Empty(Directory.GetFiles(Path.Combine(Data, "blobs", "sha256")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(Data, "tmp")));
    }

    [Fact]
    public void Import_rejects_garbage_as_invalid_data()
    {
        Root.Require();
        if (DriverName == "overlay2" && !Overlay2Driver.Probe(Data, out var reason)) Assert.Skip($"overlayfs unavailable here: {reason}");
        using var store = ImageStore.Open(Data, DriverName);
        Assert.Throws<InvalidDataException>(() => store.Import(new MemoryStream(TarBuilder.Gzip("not a tar at all, just text that is long enough to fill a header block maybe"u8.ToArray())), new ImportOptions()));
        Assert.Empty(store.Driver.List());
    }
}

public sealed class VfsHostileTarTests : HostileTarTests
{
    protected override string DriverName => "vfs";
}

public sealed class Overlay2HostileTarTests : HostileTarTests
{
    protected override string DriverName => "overlay2";
}
