using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;

namespace Berth.Runtime.Init;

/// <summary>
/// Init's own cgroup in each hierarchy, as the host names it: what a cgroup mount shows the
/// container and what a new cgroup namespace is rooted at. The parent moves init into the
/// container's cgroup while init already sets up the rootfs (to overlap the cgroup v1 write's RCU
/// wait), so before either step init moves itself there too; the parent's write is then a no-op,
/// whichever comes first. The paths are read once, before init unshares a cgroup namespace, after
/// which /proc/self/cgroup would say "/" for every hierarchy.
/// </summary>
static class OwnCgroup
{
    static Dictionary<string, string>? paths;

    /// <summary>Hierarchy (its controllers, as /proc/self/cgroup lists them, or "" for v2) → path.</summary>
    public static Dictionary<string, string> Paths(Spec spec)
    {
        if (paths is not null) return paths;
        if (spec.Linux?.CgroupsPath is { Length: > 0 } cgroupsPath) CgroupManager.ForPath(cgroupsPath).AddProcess(0);
        return paths = File.ReadAllLines("/proc/self/cgroup").Select(l => l.Split(':', 3)).Where(f => f.Length == 3)
            .ToDictionary(f => f[1], f => f[2]);
    }
}
