using Berth.Runtime.Oci;

namespace Berth.Runtime.Cgroups;

/// <summary>One container's cgroup, in whichever cgroup version the host runs.</summary>
public interface ICgroupManager
{
    /// <summary>The cgroup directories this manager owns (one per v1 hierarchy, or one in v2).</summary>
    IReadOnlyList<string> Paths { get; }
    void Create();
    /// <summary>Writes the limits; safe to call again on a live cgroup (<c>update</c>).</summary>
    void Apply(LinuxResources? resources);
    void AddProcess(int pid);
    /// <summary>
    /// Moves the calling thread alone into the cgroup, so that the processes it spawns are born there;
    /// false (and nothing moved) where the cgroup version only takes whole processes. Moving a process
    /// by pid takes a cgroup-wide lock whose first use after an idle spell waits out an RCU grace period
    /// (~10 ms on this kind of host); a thread moving itself takes no such lock.
    /// </summary>
    bool JoinAsThread();
    /// <summary>Freezes (pause) or thaws (resume) every task in the cgroup, returning once the kernel reports it done.</summary>
    void Freeze(bool frozen);
    bool IsFrozen { get; }
    CgroupStats Stats();
    /// <summary>Whether the kernel's OOM killer has killed a process in this cgroup (cheaper than <see cref="Stats"/>).</summary>
    bool OomKilled();
    /// <summary>The host pids of the processes in the cgroup; empty once it is gone.</summary>
    IReadOnlyList<int> Processes();
    /// <summary>Kills any processes still in the cgroup and removes the directories; idempotent.</summary>
    void Destroy();
}

public static class CgroupManager
{
    const long CGROUP2_SUPER_MAGIC = 0x63677270;
    public const string DefaultRoot = "/sys/fs/cgroup";

    // Cgroup mounts don't change while a process runs; berthd asks for a manager every second per `stats` stream.
    static readonly Lazy<string[]> MountInfo = new(() => File.ReadAllLines("/proc/self/mountinfo"));

    /// <summary>The manager for <paramref name="cgroupsPath"/> (spec.linux.cgroupsPath), relative to each hierarchy's root.</summary>
    public static ICgroupManager ForPath(string cgroupsPath)
    {
        if (cgroupsPath.Contains(':')) throw new RuntimeException($"cgroupsPath \"{cgroupsPath}\": systemd slice paths are not supported");
        if (IsUnified(DefaultRoot)) return new CgroupV2(DefaultRoot, cgroupsPath);
        var unified = Path.Combine(DefaultRoot, "unified");
        return new CgroupV1(CgroupV1.Hierarchies(MountInfo.Value), cgroupsPath, IsUnified(unified) ? unified : null);
    }

    /// <summary>
    /// Removes the cgroup's directories that are empty (no child cgroups, no tasks) in every cgroup hierarchy
    /// mounted, named ones such as name=systemd included (other runtimes, runc among them, create a container's
    /// cgroup in all of them); leaves the rest.
    /// </summary>
    public static void TryRemoveEmpty(string cgroupsPath) => TryRemoveEmpty(cgroupsPath, MountInfo.Value);

    internal static void TryRemoveEmpty(string cgroupsPath, IEnumerable<string> mountinfo)
    {
        foreach (var (mountPoint, _, _) in Mounts(mountinfo))
        {
            try { Directory.Delete(Under(mountPoint, cgroupsPath)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or RuntimeException) { }
        }
    }

    /// <summary>Every cgroup (v1) and cgroup2 mount in mountinfo lines: its mount point, whether it is v2, its super options.</summary>
    internal static IEnumerable<(string MountPoint, bool V2, string[] Options)> Mounts(IEnumerable<string> mountinfo)
    {
        foreach (var line in mountinfo)
        {
            // "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
            var halves = line.Split(" - ", 2);
            if (halves.Length != 2) continue;
            var tail = halves[1].Split(' ');
            if (tail.Length < 3 || tail[0] is not ("cgroup" or "cgroup2")) continue;
            yield return (halves[0].Split(' ')[4], tail[0] == "cgroup2", tail[2].Split(','));
        }
    }

    public static bool IsUnified(string root) =>
        Interop.LibC.Statfs(root, out var fs) == 0 && fs.Type == CGROUP2_SUPER_MAGIC;

    /// <summary>Joins a cgroup-relative path under a hierarchy root, refusing ".." escapes.</summary>
    internal static string Under(string root, string cgroupsPath)
    {
        var full = Path.GetFullPath(Path.Combine(root, cgroupsPath.TrimStart('/')));
        if (full != root && !full.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal))
            throw new RuntimeException($"cgroupsPath \"{cgroupsPath}\" leaves the cgroup hierarchy");
        return full;
    }

    internal static void Write(string dir, string file, string value)
    {
        var path = Path.Combine(dir, file);
        try { File.WriteAllText(path, value); }
        catch (IOException e) { throw new RuntimeException($"write {value} to {path}: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new RuntimeException($"write {value} to {path}: {e.Message}", e); }
    }

    internal static bool Exists(string dir, string file) => File.Exists(Path.Combine(dir, file));

    /// <summary>The file's text, or null when the kernel does not offer it (or the cgroup is gone).</summary>
    internal static string? Read(string dir, string file)
    {
        try { return File.ReadAllText(Path.Combine(dir, file)); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        catch (IOException) { return null; }
    }

    /// <summary>A single-number file; "max" reads as <see cref="ulong.MaxValue"/>, a missing file as 0.</summary>
    internal static ulong ReadU64(string dir, string file)
    {
        var text = Read(dir, file)?.Trim();
        if (text is null or "") return 0;
        if (text == "max") return ulong.MaxValue;
        return ulong.TryParse(text, out var v) ? v : long.TryParse(text, out var s) && s < 0 ? ulong.MaxValue : 0;
    }

    /// <summary>A flat-keyed file ("key value" per line, as memory.stat and cpu.stat).</summary>
    internal static Dictionary<string, ulong> ReadKeyed(string dir, string file)
    {
        var result = new Dictionary<string, ulong>();
        foreach (var line in (Read(dir, file) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && ulong.TryParse(parts[1], out var v)) result[parts[0]] = v;
        }
        return result;
    }

    internal static IReadOnlyList<int> ReadProcs(string dir) =>
        (Read(dir, "cgroup.procs") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => int.TryParse(l, out var p) ? p : 0).Where(p => p > 0).ToList();

    /// <summary>
    /// The huge page sizes this kernel supports, as (cgroup file infix, Docker's name): the infix is
    /// what the hugetlb controller uses in file names ("2MB"), which is also what Docker reports.
    /// </summary>
    internal static IReadOnlyList<string> HugePageSizes(string sysfs = "/sys/kernel/mm/hugepages")
    {
        if (!Directory.Exists(sysfs)) return [];
        var sizes = new List<string>();
        foreach (var dir in Directory.GetDirectories(sysfs, "hugepages-*kB"))
        {
            var kb = ulong.Parse(Path.GetFileName(dir)["hugepages-".Length..^2]);
            sizes.Add(kb >= 1 << 20 ? $"{kb >> 20}GB" : kb >= 1 << 10 ? $"{kb >> 10}MB" : $"{kb}KB");
        }
        return sizes;
    }

    /// <summary>Parses a page size as the OCI spec writes it ("2MB", "1GB") and checks it against the kernel's.</summary>
    internal static string CheckPageSize(string pageSize, IReadOnlyList<string> supported)
    {
        if (!supported.Contains(pageSize))
            throw new RuntimeException($"hugepageLimits: page size \"{pageSize}\" is not supported by this kernel (supported: {string.Join(", ", supported)})");
        return pageSize;
    }

    /// <summary>Writes the freezer file, then polls until the kernel reports the state reached.</summary>
    internal static void WaitFor(Func<bool> reached, string what)
    {
        for (var attempt = 0; attempt < 2000; attempt++)
        {
            if (reached()) return;
            Thread.Sleep(attempt < 10 ? 1 : 5);
        }
        throw new RuntimeException($"timed out waiting for the cgroup to {what}");
    }

    /// <summary>
    /// Kills what is left in the cgroup (processes that outlived a container without its own pid
    /// namespace), then rmdirs it, with a short retry: the kernel frees a cgroup a moment after its last task exits.
    /// </summary>
    internal static void Remove(string dir)
    {
        foreach (var pid in ReadProcs(dir)) Interop.LibC.Kill(pid, Interop.LibC.SIGKILL);
        for (var attempt = 0; ; attempt++)
        {
            try { if (Directory.Exists(dir)) Directory.Delete(dir); return; }
            catch (IOException) when (attempt < 50) { Thread.Sleep(10); }
            catch (IOException e) { throw new RuntimeException($"remove cgroup {dir}: {e.Message}", e); }
        }
    }
}
