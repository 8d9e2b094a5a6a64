using System.Security.Cryptography;
using Berth.Interop;

namespace Berth.Graph.Drivers;

/// <summary>
/// overlayfs layers, laid out as Docker's overlay2: <c>root/overlay2/&lt;id&gt;/{diff,work,merged,link,lower}</c>.
/// <c>link</c> holds a short name with a symlink <c>l/&lt;short&gt; → ../&lt;id&gt;/diff</c>, and <c>lower</c> lists the
/// parents' short links top-first, so the mount options stay under one page even for ~128 layers.
/// A layer with no parent is just its diff directory.
/// </summary>
public sealed class Overlay2Driver : IGraphDriver
{
    const int MaxDepth = 128;
    const int LinkLength = 26;
    readonly string _home;
    readonly MountRefs _refs = new();

    public Overlay2Driver(string dataRoot)
    {
        _home = Path.Combine(dataRoot, "overlay2");
        Directory.CreateDirectory(Path.Combine(_home, "l"));
    }

    public string Name => "overlay2";
    public bool LayersIndependent => true;

    public IReadOnlyList<KeyValuePair<string, string>> Status =>
    [
        new("Backing Filesystem", BackingFilesystem(_home)),
        new("Supports d_type", "true"),
        new("Using metacopy", "false"),
        new("Native Overlay Diff", "true"),
        new("userxattr", "false"),
    ];

    string Dir(string id) => Path.Combine(_home, LayerIds.Check(id));

    /// <summary>
    /// Mounts a throwaway overlay under <c>dataRoot/overlay2/check</c>; false (with the kernel's reason)
    /// when overlayfs can't be used on that filesystem.
    /// </summary>
    public static bool Probe(string dataRoot, out string reason)
    {
        string check = Path.Combine(dataRoot, "overlay2", "check");
        try
        {
            FileMeta.RemoveAll(check);
            foreach (var d in new[] { "lower1", "lower2", "upper", "work", "merged" })
                Directory.CreateDirectory(Path.Combine(check, d));
            string merged = Path.Combine(check, "merged");
            LibC.Check(LibC.Mount("overlay", merged, "overlay", 0,
                $"lowerdir={check}/lower1:{check}/lower2,upperdir={check}/upper,workdir={check}/work"), "mount overlay", merged);
            LibC.Umount2(merged, LibC.MNT_DETACH);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is SysException or IOException or UnauthorizedAccessException)
        {
            reason = e.Message;
            return false;
        }
        finally
        {
            try { FileMeta.RemoveAll(check); } catch (IOException) { }
        }
    }

    public void Create(string id, string? parentId)
    {
        string dir = Dir(id);
        if (Directory.Exists(dir)) throw new InvalidOperationException($"layer {id} already exists");
        string? lower = null;
        if (parentId is not null)
        {
            string parentDir = Dir(parentId);
            if (!Directory.Exists(parentDir)) throw new NotFoundException($"parent layer {parentId} does not exist");
            string parentLink = File.ReadAllText(Path.Combine(parentDir, "link")).Trim();
            string parentLowerFile = Path.Combine(parentDir, "lower");
            lower = "l/" + parentLink + (File.Exists(parentLowerFile) ? ":" + File.ReadAllText(parentLowerFile).Trim() : "");
            if (lower.Split(':').Length >= MaxDepth) throw new InvalidOperationException($"max depth exceeded: more than {MaxDepth} layers");
        }
        string link = NewLinkName();
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "diff"));
            File.CreateSymbolicLink(Path.Combine(_home, "l", link), Path.Combine("..", id, "diff"));
            File.WriteAllText(Path.Combine(dir, "link"), link);
            if (lower is not null)
            {
                File.WriteAllText(Path.Combine(dir, "lower"), lower);
                Directory.CreateDirectory(Path.Combine(dir, "work"));
                Directory.CreateDirectory(Path.Combine(dir, "merged"));
            }
        }
        catch
        {
            File.Delete(Path.Combine(_home, "l", link));
            FileMeta.RemoveAll(dir);
            throw;
        }
    }

    public string Mount(string id)
    {
        string dir = Dir(id);
        if (!Directory.Exists(dir)) throw new NotFoundException($"layer {id} does not exist");
        string lowerFile = Path.Combine(dir, "lower");
        if (!File.Exists(lowerFile))
        {
            lock (_refs.Sync) _refs.Increment(id);
            return Path.Combine(dir, "diff");
        }
        string merged = Path.Combine(dir, "merged");
        lock (_refs.Sync)
        {
            // After a daemon restart the overlay may still be mounted with no count recorded: adopt it.
            if (_refs.Increment(id) == 1 && !MountInfo.IsMountPoint(merged))
            {
                try
                {
                    string data = $"lowerdir={File.ReadAllText(lowerFile).Trim()},upperdir={id}/diff,workdir={id}/work,index=off";
                    MountFromHome(merged, data);
                }
                catch
                {
                    _refs.Decrement(id);
                    throw;
                }
            }
        }
        return merged;
    }

    public void Unmount(string id)
    {
        string merged = Path.Combine(Dir(id), "merged");
        lock (_refs.Sync)
        {
            if (_refs.Decrement(id) == 0 && Directory.Exists(merged) && MountInfo.IsMountPoint(merged))
                LibC.Check(LibC.Umount2(merged, LibC.MNT_DETACH), "umount", merged);
        }
    }

    public void Remove(string id)
    {
        string dir = Dir(id);
        string merged = Path.Combine(dir, "merged");
        lock (_refs.Sync)
        {
            _refs.Forget(id);
            if (Directory.Exists(merged) && MountInfo.IsMountPoint(merged))
                LibC.Check(LibC.Umount2(merged, LibC.MNT_DETACH), "umount", merged);
        }
        string linkFile = Path.Combine(dir, "link");
        if (File.Exists(linkFile)) File.Delete(Path.Combine(_home, "l", File.ReadAllText(linkFile).Trim()));
        FileMeta.RemoveAll(dir);
    }

    public bool Exists(string id) => Directory.Exists(Dir(id));

    public long ApplyDiff(string id, Stream layerTar) =>
        LayerTar.Apply(Path.Combine(Dir(id), "diff"), layerTar, WhiteoutMode.Overlay);

    /// <summary>Native diff: the upper dir holds exactly the layer's changes, so the parent is implied by the layer's own lower list.</summary>
    public IReadOnlyList<LayerChange> Changes(string id, string? parentId) =>
        LayerChanges.FromUpper(Path.Combine(Dir(id), "diff"), LowerDirs(id));

    public void WriteDiff(string id, string? parentId, Stream output) =>
        LayerChanges.WriteTar(output, Path.Combine(Dir(id), "diff"), Changes(id, parentId), overlayUpper: true);

    /// <summary>The parents' diff dirs, top first.</summary>
    List<string> LowerDirs(string id)
    {
        string lowerFile = Path.Combine(Dir(id), "lower");
        if (!File.Exists(lowerFile)) return [];
        return File.ReadAllText(lowerFile).Trim().Split(':')
            .Select(l => Path.GetFullPath(Path.Combine(_home, "l", new FileInfo(Path.Combine(_home, l)).LinkTarget!))).ToList();
    }

    public IReadOnlyDictionary<string, string> Metadata(string id)
    {
        string dir = Dir(id);
        if (!Directory.Exists(dir)) throw new NotFoundException($"layer {id} does not exist");
        var data = new Dictionary<string, string> { ["UpperDir"] = Path.Combine(dir, "diff") };
        string lowerFile = Path.Combine(dir, "lower");
        if (File.Exists(lowerFile))
        {
            data["LowerDir"] = string.Join(':', LowerDirs(id));
            data["MergedDir"] = Path.Combine(dir, "merged");
            data["WorkDir"] = Path.Combine(dir, "work");
        }
        return data;
    }

    public IReadOnlyList<string> List() =>
        Directory.EnumerateDirectories(_home).Select(Path.GetFileName).Where(n => n is not ("l" or "check")).ToList()!;

    /// <summary>
    /// The options name layers relative to the driver's home to stay under the kernel's one-page limit. cwd is
    /// shared by all threads, so a dedicated thread first takes a private copy of it (unshare(CLONE_FS)),
    /// changes into the home and mounts; the thread then exits and the process's cwd was never touched.
    /// </summary>
    void MountFromHome(string target, string data)
    {
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                LibC.Check(LibC.Unshare(LibC.CLONE_FS), "unshare(CLONE_FS)");
                Environment.CurrentDirectory = _home;
                LibC.Check(LibC.Mount("overlay", target, "overlay", 0, data), "mount overlay", target);
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        t.Start();
        t.Join();
        if (error is not null) throw error;
    }

    static string NewLinkName()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        return RandomNumberGenerator.GetString(alphabet, LinkLength);
    }

    static string BackingFilesystem(string path)
    {
        if (LibC.Statfs(path, out var st) != 0) return "unknown";
        return st.Type switch
        {
            0xEF53 => "extfs",
            0x58465342 => "xfs",
            0x9123683E => "btrfs",
            0x01021994 => "tmpfs",
            0x794C7630 => "overlayfs",
            0x2FC12FC1 => "zfs",
            _ => $"<unknown 0x{st.Type:x}>",
        };
    }
}

/// <summary>Reads /proc/self/mountinfo; the kernel's answer to "is something mounted here".</summary>
internal static class MountInfo
{
    public static bool IsMountPoint(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && Unescape(fields[4]) == full) return true;
        }
        return false;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo octal.</summary>
    static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length)
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }
}
