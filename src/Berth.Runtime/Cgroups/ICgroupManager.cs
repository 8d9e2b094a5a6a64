using Berth.Runtime.Oci;

namespace Berth.Runtime.Cgroups;

/// <summary>One container's cgroup, in whichever cgroup version the host runs.</summary>
public interface ICgroupManager
{
    /// <summary>The cgroup directories this manager owns (one per v1 hierarchy, or one in v2).</summary>
    IReadOnlyList<string> Paths { get; }
    void Create();
    void Apply(LinuxResources? resources);
    void AddProcess(int pid);
    /// <summary>Kills any processes still in the cgroup and removes the directories; idempotent.</summary>
    void Destroy();
}

public static class CgroupManager
{
    const long CGROUP2_SUPER_MAGIC = 0x63677270;
    public const string DefaultRoot = "/sys/fs/cgroup";

    /// <summary>The manager for <paramref name="cgroupsPath"/> (spec.linux.cgroupsPath), relative to each hierarchy's root.</summary>
    public static ICgroupManager ForPath(string cgroupsPath)
    {
        if (cgroupsPath.Contains(':')) throw new RuntimeException($"cgroupsPath \"{cgroupsPath}\": systemd slice paths are not supported");
        if (IsUnified(DefaultRoot)) return new CgroupV2(DefaultRoot, cgroupsPath);
        return new CgroupV1(CgroupV1.Hierarchies(File.ReadAllLines("/proc/self/mountinfo")), cgroupsPath);
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
    }

    /// <summary>
    /// Kills what is left in the cgroup (processes that outlived a container without its own pid
    /// namespace), then rmdirs it, with a short retry: the kernel frees a cgroup a moment after its last task exits.
    /// </summary>
    internal static void Remove(string dir)
    {
        var procs = Path.Combine(dir, "cgroup.procs");
        if (File.Exists(procs))
            foreach (var line in File.ReadAllLines(procs))
                if (int.TryParse(line, out var pid) && pid > 0) Interop.LibC.Kill(pid, Interop.LibC.SIGKILL);
        for (var attempt = 0; ; attempt++)
        {
            try { if (Directory.Exists(dir)) Directory.Delete(dir); return; }
            catch (IOException) when (attempt < 50) { Thread.Sleep(10); }
            catch (IOException e) { throw new RuntimeException($"remove cgroup {dir}: {e.Message}", e); }
        }
    }
}
