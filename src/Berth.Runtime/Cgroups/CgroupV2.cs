using Berth.Runtime.Oci;

namespace Berth.Runtime.Cgroups;

/// <summary>A cgroup in the unified (v2) hierarchy mounted at <c>root</c>.</summary>
public sealed class CgroupV2 : ICgroupManager
{
    static readonly string[] Wanted = ["cpuset", "cpu", "io", "memory", "pids", "hugetlb"];
    readonly string root;
    readonly string dir;

    public CgroupV2(string root, string cgroupsPath)
    {
        this.root = Path.GetFullPath(root);
        dir = CgroupManager.Under(this.root, cgroupsPath);
    }

    public IReadOnlyList<string> Paths => [dir];

    public void Create()
    {
        // Controllers must be enabled in every ancestor's subtree_control for the leaf to get their files.
        var relative = Path.GetRelativePath(root, dir).Split('/');
        var current = root;
        foreach (var part in relative)
        {
            var available = File.Exists(Path.Combine(current, "cgroup.controllers"))
                ? File.ReadAllText(Path.Combine(current, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : [];
            var enable = Wanted.Where(available.Contains).Select(c => "+" + c).ToArray();
            if (enable.Length > 0) CgroupManager.Write(current, "cgroup.subtree_control", string.Join(' ', enable));
            current = Path.Combine(current, part);
            Directory.CreateDirectory(current);
        }
    }

    public void Apply(LinuxResources? r)
    {
        if (r is null) return;
        if (r.Memory?.Limit is { } limit) CgroupManager.Write(dir, "memory.max", limit > 0 ? limit.ToString() : "max");
        if (r.Memory is { Swap: { } swap, Limit: { } memLimit } && swap > 0)
            CgroupManager.Write(dir, "memory.swap.max", Math.Max(0, swap - memLimit).ToString());
        if (r.Cpu?.Shares is { } shares and > 0) CgroupManager.Write(dir, "cpu.weight", SharesToWeight(shares).ToString());
        if (r.Cpu is { Quota: not null } or { Period: not null })
        {
            var quota = r.Cpu.Quota is { } q and > 0 ? q.ToString() : "max";
            CgroupManager.Write(dir, "cpu.max", $"{quota} {r.Cpu.Period ?? 100000}");
        }
        if (r.Cpu?.Cpus is { Length: > 0 } cpus) CgroupManager.Write(dir, "cpuset.cpus", cpus);
        if (r.Cpu?.Mems is { Length: > 0 } mems) CgroupManager.Write(dir, "cpuset.mems", mems);
        if (r.Pids is { } pids) CgroupManager.Write(dir, "pids.max", pids.Limit > 0 ? pids.Limit.ToString() : "max");
        foreach (var (key, value) in r.Unified ?? []) CgroupManager.Write(dir, key, value);
    }

    /// <summary>The cgroup v1 cpu.shares range [2, 262144] mapped onto cpu.weight [1, 10000], as runc and crun do.</summary>
    public static ulong SharesToWeight(ulong shares) => 1 + (Math.Clamp(shares, 2, 262144) - 2) * 9999 / 262142;

    public void AddProcess(int pid) => CgroupManager.Write(dir, "cgroup.procs", pid.ToString());

    public void Destroy() => CgroupManager.Remove(dir);
}
