using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace Berth.Graph.Tests;

/// <summary>A temp directory that, on dispose, unmounts anything a test left mounted under it and deletes it.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("berth-graph-").FullName;

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        foreach (var mount in MountsUnder(Path).OrderByDescending(m => m.Length))
            Berth.Interop.LibC.Umount2(mount, Berth.Interop.LibC.MNT_DETACH);
        Directory.Delete(Path, recursive: true);
    }

    public static IReadOnlyList<string> MountsUnder(string dir) =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
            .Where(m => m.StartsWith(dir + "/", StringComparison.Ordinal)).ToList();
}

public static class Root
{
    public static void Require()
    {
        if (!Environment.IsPrivilegedProcess) Assert.Skip("needs root (chown, mknod, mount)");
    }
}

/// <summary>Builds layer tars in memory (PAX format, as Docker writes them).</summary>
public sealed class TarBuilder
{
    readonly MemoryStream _ms = new();
    readonly TarWriter _w;
    public static readonly DateTimeOffset DefaultTime = new(2024, 5, 1, 10, 0, 0, TimeSpan.Zero);

    public TarBuilder() => _w = new TarWriter(_ms, TarEntryFormat.Pax, leaveOpen: true);

    public TarBuilder Dir(string name, UnixFileMode mode = (UnixFileMode)0x1ed, int uid = 0, int gid = 0, DateTimeOffset? mtime = null) =>
        Add(new PaxTarEntry(TarEntryType.Directory, name) { Mode = mode, Uid = uid, Gid = gid, ModificationTime = mtime ?? DefaultTime });

    public TarBuilder File(string name, string content, UnixFileMode mode = (UnixFileMode)0x1a4, int uid = 0, int gid = 0,
        DateTimeOffset? mtime = null, Dictionary<string, string>? pax = null)
    {
        var e = new PaxTarEntry(TarEntryType.RegularFile, name, pax ?? [])
        {
            Mode = mode, Uid = uid, Gid = gid, ModificationTime = mtime ?? DefaultTime,
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
        };
        return Add(e);
    }

    public TarBuilder Raw(string name, byte[] content) =>
        Add(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1a4, ModificationTime = DefaultTime, DataStream = new MemoryStream(content) });

    public TarBuilder Symlink(string name, string target) =>
        Add(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target, ModificationTime = DefaultTime, Mode = (UnixFileMode)0x1ff });

    public TarBuilder HardLink(string name, string target) =>
        Add(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target, ModificationTime = DefaultTime });

    public TarBuilder CharDevice(string name, int major, int minor) =>
        Add(new PaxTarEntry(TarEntryType.CharacterDevice, name) { DeviceMajor = major, DeviceMinor = minor, Mode = (UnixFileMode)0x1b6, ModificationTime = DefaultTime });

    public TarBuilder Fifo(string name) =>
        Add(new PaxTarEntry(TarEntryType.Fifo, name) { Mode = (UnixFileMode)0x1a4, ModificationTime = DefaultTime });

    TarBuilder Add(TarEntry e)
    {
        _w.WriteEntry(e);
        return this;
    }

    public byte[] Bytes()
    {
        _w.Dispose();
        return _ms.ToArray();
    }

    public MemoryStream Stream() => new(Bytes());

    public static byte[] Gzip(byte[] data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    public static byte[] Zstd(byte[] data)
    {
        using var c = new ZstdSharp.Compressor();
        return c.Wrap(data).ToArray();
    }
}

/// <summary>An image store on a temporary root with the driver a subclass names, skipped where the host lacks it.</summary>
public abstract class StoreOnDriverTests : IDisposable
{
    protected TempDir Tmp { get; } = new();
    ImageStore? _store;
    protected abstract string DriverName { get; }

    /// <summary>Where the store lives: a temp dir, or a directory on a filesystem the driver needs.</summary>
    protected virtual string DataRoot => Tmp.Path;

    protected ImageStore Store
    {
        get
        {
            Root.Require();
            if (_store is not null) return _store;
            if (DriverName == "overlay2" && !Berth.Graph.Drivers.Overlay2Driver.Probe(DataRoot, out var reason))
                Assert.Skip($"overlayfs unavailable here: {reason}");
            return _store = ImageStore.Open(DataRoot, DriverName);
        }
    }

    public void Dispose()
    {
        _store?.Dispose();
        Tmp.Dispose();
        GC.SuppressFinalize(this);
    }
}

public static class Tool
{
    /// <summary>Runs a program to completion; a non-zero exit fails the test with its stderr.</summary>
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}");
        return stdout;
    }

    public static string? Find(string name) =>
        new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin" }.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}

/// <summary>
/// A btrfs filesystem made for the tests: a sparse image file, mkfs.btrfs, a loop device and a mount, shared by
/// one test class (each test uses its own directory on it). Where the host can't provide one,
/// <see cref="SkipReason"/> says why and nothing is created. Dispose unmounts, detaches and deletes, whatever
/// state the tests left.
/// </summary>
public sealed class BtrfsVolume : IDisposable
{
    readonly TempDir _tmp = new();
    string? _loop;
    int _next;

    public string? SkipReason { get; }
    public string MountPoint => _tmp.Combine("mnt");

    public BtrfsVolume()
    {
        SkipReason = !Environment.IsPrivilegedProcess ? "needs root (losetup, mount)"
            : !File.ReadAllText("/proc/filesystems").Contains("\tbtrfs") ? "the kernel has no btrfs"
            : !File.Exists("/dev/loop-control") ? "no loop devices (/dev/loop-control is missing)"
            : Tool.Find("mkfs.btrfs") is null ? "mkfs.btrfs is not installed (btrfs-progs; see scripts/install-deps)"
            : Tool.Find("losetup") is null ? "losetup is not installed (util-linux)"
            : null;
        if (SkipReason is not null) return;
        try
        {
            string image = _tmp.Combine("btrfs.img");
            using (var f = File.Create(image)) f.SetLength(512L << 20);
            Tool.Run(Tool.Find("mkfs.btrfs")!, "-q", image);
            _loop = Tool.Run(Tool.Find("losetup")!, "-f", "--show", image).Trim();
            Directory.CreateDirectory(MountPoint);
            Berth.Interop.LibC.Check(Berth.Interop.LibC.Mount(_loop, MountPoint, "btrfs", 0, null), "mount btrfs", MountPoint);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>A fresh directory on the volume for one test's data root.</summary>
    public string NewRoot()
    {
        if (SkipReason is not null) Assert.Skip(SkipReason);
        string dir = Path.Combine(MountPoint, $"t{Interlocked.Increment(ref _next)}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        if (Directory.Exists(MountPoint) && TempDir.MountsUnder(_tmp.Path).Contains(MountPoint))
            Berth.Interop.LibC.Check(Berth.Interop.LibC.Umount2(MountPoint, Berth.Interop.LibC.MNT_DETACH), "umount", MountPoint);
        if (_loop is not null) Tool.Run(Tool.Find("losetup")!, "-d", _loop);
        _loop = null;
        _tmp.Dispose();
    }
}

/// <summary>A comparable description of a directory tree: every path's type, mode, owner, times, content, link, device, xattrs and hard-link group.</summary>
public static class Tree
{
    public static IReadOnlyList<string> Describe(string root)
    {
        var lines = new List<string>();
        var inodes = new Dictionary<ulong, string>();
        foreach (var path in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                     .Order(StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(root, path);
            var st = Berth.Interop.LibC.LStat(path);
            var sb = new StringBuilder($"{rel} mode={Convert.ToString(st.Mode, 8)} owner={st.Uid}:{st.Gid}");
            // Directory mtimes move whenever an entry is added during extraction; Docker doesn't keep them either.
            // Tar times travel as DateTimeOffset (System.Formats.Tar), so 100 ns is the precision a layer keeps.
            if (st.FileType != Berth.Interop.LibC.S_IFDIR) sb.Append($" mtime={st.Mtime.Sec}.{st.Mtime.Nsec / 100:D7}");
            if (st.FileType == Berth.Interop.LibC.S_IFREG)
            {
                sb.Append($" size={st.Size} sha={Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)))[..12]}");
                if (st.Nlink > 1) sb.Append(" linkgroup=" + (inodes.TryGetValue(st.Ino, out var first) ? first : inodes[st.Ino] = rel));
            }
            if (st.FileType == Berth.Interop.LibC.S_IFLNK) sb.Append(" -> " + new FileInfo(path).LinkTarget);
            if (st.FileType is Berth.Interop.LibC.S_IFCHR or Berth.Interop.LibC.S_IFBLK) sb.Append($" dev={st.RdevMajor},{st.RdevMinor}");
            foreach (var x in Berth.Graph.Drivers.FileMeta.ListXattrs(path).Where(x => !x.StartsWith("trusted.overlay.", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
                sb.Append($" {x}={Convert.ToHexString(Berth.Graph.Drivers.FileMeta.GetXattr(path, x) ?? [])}");
            lines.Add(sb.ToString());
        }
        return lines;
    }
}
