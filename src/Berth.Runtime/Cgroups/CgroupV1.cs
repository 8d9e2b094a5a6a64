using Berth.Runtime.Oci;

namespace Berth.Runtime.Cgroups;

/// <summary>A cgroup made of one directory in each mounted v1 controller hierarchy.</summary>
public sealed class CgroupV1 : ICgroupManager
{
    static readonly string[] Controllers = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer"];

    /// <summary>Controller name → its directory for this cgroup; co-mounted controllers share one.</summary>
    readonly Dictionary<string, string> dirs = [];

    public CgroupV1(IReadOnlyDictionary<string, string> hierarchies, string cgroupsPath)
    {
        foreach (var (controller, mountPoint) in hierarchies)
            dirs[controller] = CgroupManager.Under(mountPoint, cgroupsPath);
    }

    public IReadOnlyList<string> Paths => dirs.Values.Distinct().ToList();

    /// <summary>Controller → mount point of each v1 hierarchy that carries one of the controllers Berth uses, from mountinfo lines.</summary>
    public static Dictionary<string, string> Hierarchies(IEnumerable<string> mountinfo)
    {
        var result = new Dictionary<string, string>();
        foreach (var line in mountinfo)
        {
            // "id parent maj:min root mountpoint opts [optional...] - fstype source superopts"
            var halves = line.Split(" - ", 2);
            if (halves.Length != 2) continue;
            var tail = halves[1].Split(' ');
            if (tail.Length < 3 || tail[0] != "cgroup") continue;
            var mountPoint = halves[0].Split(' ')[4];
            foreach (var option in tail[2].Split(','))
                if (Controllers.Contains(option)) result.TryAdd(option, mountPoint);
        }
        return result;
    }

    public void Create()
    {
        foreach (var dir in Paths) Directory.CreateDirectory(dir);
        if (dirs.TryGetValue("cpuset", out var cpuset)) InheritCpuset(cpuset);
    }

    // A new v1 cpuset starts with empty cpus/mems and refuses tasks until they are filled in from the parent.
    static void InheritCpuset(string dir)
    {
        var parent = Path.GetDirectoryName(dir)!;
        foreach (var file in new[] { "cpuset.cpus", "cpuset.mems" })
        {
            var path = Path.Combine(dir, file);
            if (File.Exists(path) && File.ReadAllText(path).Trim().Length > 0) continue;
            if (File.Exists(Path.Combine(parent, file)) && File.ReadAllText(Path.Combine(parent, file)).Trim().Length == 0) InheritCpuset(parent);
            CgroupManager.Write(dir, file, File.ReadAllText(Path.Combine(parent, file)).Trim());
        }
    }

    public void Apply(LinuxResources? r)
    {
        if (r is null) return;
        if (r.Memory?.Limit is { } limit && dirs.TryGetValue("memory", out var memory))
            CgroupManager.Write(memory, "memory.limit_in_bytes", limit > 0 ? limit.ToString() : "-1");
        if (dirs.TryGetValue("cpu", out var cpu) && r.Cpu is { } c)
        {
            if (c.Shares is { } shares and > 0) CgroupManager.Write(cpu, "cpu.shares", shares.ToString());
            if (c.Period is { } period and > 0) CgroupManager.Write(cpu, "cpu.cfs_period_us", period.ToString());
            if (c.Quota is { } quota) CgroupManager.Write(cpu, "cpu.cfs_quota_us", quota > 0 ? quota.ToString() : "-1");
        }
        if (dirs.TryGetValue("cpuset", out var cpuset) && r.Cpu is { } cs)
        {
            if (cs.Cpus is { Length: > 0 } cpus) CgroupManager.Write(cpuset, "cpuset.cpus", cpus);
            if (cs.Mems is { Length: > 0 } mems) CgroupManager.Write(cpuset, "cpuset.mems", mems);
        }
        if (r.Pids is { } pids && dirs.TryGetValue("pids", out var pidsDir))
            CgroupManager.Write(pidsDir, "pids.max", pids.Limit > 0 ? pids.Limit.ToString() : "max");
        if (r.Devices is { Count: > 0 } rules && dirs.TryGetValue("devices", out var devices)) ApplyDevices(devices, rules);
        if (r.BlockIO?.Weight is { } weight && dirs.TryGetValue("blkio", out var blkio) && File.Exists(Path.Combine(blkio, "blkio.weight")))
            CgroupManager.Write(blkio, "blkio.weight", weight.ToString());
    }

    /// <summary>
    /// The devices a container may always use, appended after the spec's rules as runc does: the
    /// nodes init creates in /dev, ptys, /dev/net/tun, and mknod of anything (opening stays denied).
    /// </summary>
    internal static readonly LinuxDeviceCgroup[] DefaultAllowed =
    [
        new() { Allow = true, Type = "c", Access = "m" }, new() { Allow = true, Type = "b", Access = "m" },
        Char(1, 3), Char(1, 5), Char(1, 7), Char(1, 8), Char(1, 9), Char(5, 0), Char(5, 1), Char(5, 2), Char(136, null), Char(10, 200),
    ];

    static LinuxDeviceCgroup Char(long major, long? minor) => new() { Allow = true, Type = "c", Major = major, Minor = minor, Access = "rwm" };

    static void ApplyDevices(string dir, IEnumerable<LinuxDeviceCgroup> rules)
    {
        foreach (var rule in rules.Concat(DefaultAllowed))
            CgroupManager.Write(dir, rule.Allow ? "devices.allow" : "devices.deny", DeviceRule(rule));
    }

    /// <summary>A rule in the v1 devices-controller syntax: "a", or "c 1:3 rwm" with * for any number.</summary>
    internal static string DeviceRule(LinuxDeviceCgroup rule)
    {
        var type = string.IsNullOrEmpty(rule.Type) ? "a" : rule.Type;
        var access = string.IsNullOrEmpty(rule.Access) ? "rwm" : rule.Access;
        if (type == "a" && rule.Major is null && rule.Minor is null) return access == "rwm" ? "a" : $"a *:* {access}";
        return $"{type} {rule.Major?.ToString() ?? "*"}:{rule.Minor?.ToString() ?? "*"} {access}";
    }

    public void AddProcess(int pid)
    {
        foreach (var dir in Paths) CgroupManager.Write(dir, "cgroup.procs", pid.ToString());
    }

    public void Destroy()
    {
        foreach (var dir in Paths) CgroupManager.Remove(dir);
    }
}
