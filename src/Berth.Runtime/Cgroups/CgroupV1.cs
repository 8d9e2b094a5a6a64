using Berth.Runtime.Oci;

namespace Berth.Runtime.Cgroups;

/// <summary>
/// A cgroup made of one directory in each mounted v1 controller hierarchy. On a hybrid host some
/// controllers exist only in the v2 tree (hugetlb, here): those are reached through a
/// <see cref="CgroupV2"/> under the unified mount, made only when a limit needs it, so a plain
/// container pays nothing for it.
/// </summary>
public sealed class CgroupV1 : ICgroupManager
{
    static readonly string[] Controllers = ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer", "hugetlb", "net_cls", "net_prio"];

    /// <summary>Controller name → its directory for this cgroup; co-mounted controllers share one.</summary>
    readonly Dictionary<string, string> dirs = [];
    readonly CgroupV2? unified;
    readonly Func<IReadOnlyList<string>> pageSizes;

    public CgroupV1(IReadOnlyDictionary<string, string> hierarchies, string cgroupsPath, string? unifiedRoot = null,
        Func<IReadOnlyList<string>>? hugePageSizes = null)
    {
        foreach (var (controller, mountPoint) in hierarchies)
            dirs[controller] = CgroupManager.Under(mountPoint, cgroupsPath);
        pageSizes = hugePageSizes ?? (() => CgroupManager.HugePageSizes());
        if (unifiedRoot is not null) unified = new CgroupV2(unifiedRoot, cgroupsPath, pageSizes);
    }

    public IReadOnlyList<string> Paths => dirs.Values.Distinct().ToList();

    /// <summary>Controller → mount point of each v1 hierarchy that carries one of the controllers Berth uses, from mountinfo lines.</summary>
    public static Dictionary<string, string> Hierarchies(IEnumerable<string> mountinfo)
    {
        var result = new Dictionary<string, string>();
        foreach (var (mountPoint, v2, options) in CgroupManager.Mounts(mountinfo))
            if (!v2)
                foreach (var option in options)
                    if (Controllers.Contains(option)) result.TryAdd(option, mountPoint);
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

    string Need(string controller, string what) =>
        dirs.TryGetValue(controller, out var dir) ? dir
            : throw new RuntimeException($"{what} needs the {controller} cgroup controller, which is not mounted on this host");

    public void Apply(LinuxResources? r)
    {
        if (r is null) return;
        if (r.Memory is { } m) ApplyMemory(m);
        if (r.Cpu is { } c) ApplyCpu(c);
        if (r.Pids is { } pids) CgroupManager.Write(Need("pids", "a pids limit"), "pids.max", pids.Limit > 0 ? pids.Limit.ToString() : "max");
        if (r.Devices is { Count: > 0 } rules && dirs.TryGetValue("devices", out var devices)) ApplyDevices(devices, rules);
        if (r.BlockIO is { } io) ApplyBlockIo(io);
        if (r.HugepageLimits is { Count: > 0 } huge) ApplyHugetlb(huge);
        if (r.Network is { } net)
        {
            if (net.ClassId is { } classId) CgroupManager.Write(Need("net_cls", "network classID"), "net_cls.classid", classId.ToString());
            foreach (var p in net.Priorities ?? [])
                CgroupManager.Write(Need("net_prio", "network priorities"), "net_prio.ifpriomap", $"{p.Name} {p.Priority}");
        }
        if (r.Unified is { Count: > 0 } keys)
        {
            if (unified is null) throw new RuntimeException("linux.resources.unified needs cgroup v2, and this host has no v2 hierarchy");
            EnsureUnified();
            unified.Apply(new LinuxResources { Unified = keys });
        }
    }

    void ApplyMemory(LinuxMemory m)
    {
        var dir = Need("memory", "a memory limit");
        // memsw (memory+swap) must never be below the memory limit, so the order of the two
        // writes depends on whether the limit grows or shrinks.
        if (m.Swap is { } swap && swap != 0)
        {
            var current = CgroupManager.ReadU64(dir, "memory.limit_in_bytes");
            var newLimit = m.Limit is { } l && l > 0 ? (ulong)l : ulong.MaxValue;
            bool swapFirst = swap == -1 || newLimit > current;
            if (!CgroupManager.Exists(dir, "memory.memsw.limit_in_bytes"))
                throw new RuntimeException("a swap limit needs swap accounting (memory.memsw.limit_in_bytes), which this kernel does not offer");
            if (swapFirst) CgroupManager.Write(dir, "memory.memsw.limit_in_bytes", swap > 0 ? swap.ToString() : "-1");
            if (m.Limit is { } limit) CgroupManager.Write(dir, "memory.limit_in_bytes", limit > 0 ? limit.ToString() : "-1");
            if (!swapFirst) CgroupManager.Write(dir, "memory.memsw.limit_in_bytes", swap > 0 ? swap.ToString() : "-1");
        }
        else if (m.Limit is { } limit) CgroupManager.Write(dir, "memory.limit_in_bytes", limit > 0 ? limit.ToString() : "-1");
        if (m.Reservation is { } reservation and not 0) CgroupManager.Write(dir, "memory.soft_limit_in_bytes", reservation > 0 ? reservation.ToString() : "-1");
        if (m.Swappiness is { } swappiness)
        {
            if (swappiness > 100) throw new RuntimeException($"memory.swappiness {swappiness} is out of range 0-100");
            CgroupManager.Write(dir, "memory.swappiness", swappiness.ToString());
        }
        if (m.DisableOomKiller == true) CgroupManager.Write(dir, "memory.oom_control", "1");
        // Kernel memory limits (kernel, kernelTCP) are deprecated and ignored, as runc and Docker do since Linux 5.4+.
    }

    void ApplyCpu(LinuxCpu c)
    {
        if (c is { Shares: not null } or { Period: not null } or { Quota: not null } or { Burst: not null } or { RealtimePeriod: not null } or { RealtimeRuntime: not null } or { Idle: not null })
        {
            var cpu = Need("cpu", "a cpu limit");
            if (c.Shares is { } shares and > 0) CgroupManager.Write(cpu, "cpu.shares", shares.ToString());
            if (c.Period is { } period and > 0) CgroupManager.Write(cpu, "cpu.cfs_period_us", period.ToString());
            if (c.Quota is { } quota) CgroupManager.Write(cpu, "cpu.cfs_quota_us", quota > 0 ? quota.ToString() : "-1");
            if (c.Burst is { } burst and >= 0) CgroupManager.Write(cpu, "cpu.cfs_burst_us", burst.ToString());
            if (c.RealtimePeriod is { } rtPeriod and > 0) CgroupManager.Write(cpu, "cpu.rt_period_us", rtPeriod.ToString());
            if (c.RealtimeRuntime is { } rtRuntime) CgroupManager.Write(cpu, "cpu.rt_runtime_us", rtRuntime.ToString());
            if (c.Idle is { } idle) CgroupManager.Write(cpu, "cpu.idle", idle.ToString());
        }
        if (c.Cpus is { Length: > 0 } cpus) CgroupManager.Write(Need("cpuset", "a cpuset"), "cpuset.cpus", cpus);
        if (c.Mems is { Length: > 0 } mems) CgroupManager.Write(Need("cpuset", "a cpuset"), "cpuset.mems", mems);
    }

    void ApplyBlockIo(LinuxBlockIO io)
    {
        var dir = Need("blkio", "a block I/O setting");
        // Kernels without CFQ only offer BFQ's weight file.
        var weightFile = CgroupManager.Exists(dir, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
        if (io.Weight is { } weight and > 0)
        {
            if (!CgroupManager.Exists(dir, weightFile))
                throw new RuntimeException("blkio weight is not supported by this kernel (no blkio.weight or blkio.bfq.weight)");
            CgroupManager.Write(dir, weightFile, weight.ToString());
        }
        if (io.LeafWeight is { } leaf and > 0) CgroupManager.Write(dir, "blkio.leaf_weight", leaf.ToString());
        foreach (var d in io.WeightDevice ?? [])
        {
            if (d.Weight is { } w) CgroupManager.Write(dir, weightFile + "_device", $"{d.Major}:{d.Minor} {w}");
            if (d.LeafWeight is { } lw) CgroupManager.Write(dir, "blkio.leaf_weight_device", $"{d.Major}:{d.Minor} {lw}");
        }
        Throttle(dir, "blkio.throttle.read_bps_device", io.ThrottleReadBpsDevice);
        Throttle(dir, "blkio.throttle.write_bps_device", io.ThrottleWriteBpsDevice);
        Throttle(dir, "blkio.throttle.read_iops_device", io.ThrottleReadIopsDevice);
        Throttle(dir, "blkio.throttle.write_iops_device", io.ThrottleWriteIopsDevice);
    }

    static void Throttle(string dir, string file, List<LinuxThrottleDevice>? devices)
    {
        foreach (var d in devices ?? []) CgroupManager.Write(dir, file, $"{d.Major}:{d.Minor} {d.Rate}");
    }

    void ApplyHugetlb(List<LinuxHugepageLimit> limits)
    {
        if (dirs.TryGetValue("hugetlb", out var dir))
        {
            foreach (var l in limits)
                CgroupManager.Write(dir, $"hugetlb.{CgroupManager.CheckPageSize(l.PageSize, pageSizes())}.limit_in_bytes", l.Limit.ToString());
            return;
        }
        if (unified is null) throw new RuntimeException("hugepage limits need the hugetlb cgroup controller, which is not mounted on this host");
        EnsureUnified();
        unified.Apply(new LinuxResources { HugepageLimits = limits });
    }

    /// <summary>Makes the v2 half on first use and moves the cgroup's current tasks into it.</summary>
    void EnsureUnified()
    {
        if (Directory.Exists(unified!.Paths[0])) return;
        unified.Create();
        foreach (var pid in Processes()) unified.AddProcess(pid);
    }

    bool UnifiedInUse => unified is not null && Directory.Exists(unified.Paths[0]);

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
        if (UnifiedInUse) unified!.AddProcess(pid);
    }

    // "0" in a v1 tasks file is the writing thread itself. The v2 half, when in use, can only take processes,
    // and a thread joining a frozen cgroup would stop on the spot.
    public bool JoinAsThread()
    {
        if (UnifiedInUse || IsFrozen) return false;
        foreach (var dir in Paths) CgroupManager.Write(dir, "tasks", "0");
        return true;
    }

    public void Freeze(bool frozen)
    {
        var dir = Need("freezer", frozen ? "pause" : "resume");
        var want = frozen ? "FROZEN" : "THAWED";
        // FREEZING is transient: the kernel may need the request repeated while tasks are in
        // uninterruptible sleep, which is why runc rewrites it too.
        CgroupManager.WaitFor(() =>
        {
            if (CgroupManager.Read(dir, "freezer.state")?.Trim() == want) return true;
            CgroupManager.Write(dir, "freezer.state", want);
            return CgroupManager.Read(dir, "freezer.state")?.Trim() == want;
        }, frozen ? "freeze" : "thaw");
    }

    public bool IsFrozen =>
        dirs.TryGetValue("freezer", out var dir) && CgroupManager.Read(dir, "freezer.state")?.Trim() is "FROZEN" or "FREEZING";

    public CgroupStats Stats()
    {
        var s = new CgroupStats();
        if (dirs.TryGetValue("cpuacct", out var acct))
        {
            s.Cpu.TotalUsage = CgroupManager.ReadU64(acct, "cpuacct.usage");
            s.Cpu.PerCpuUsage = (CgroupManager.Read(acct, "cpuacct.usage_percpu") ?? "")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ulong.Parse).ToList();
            // cpuacct.stat counts USER_HZ ticks, 100 per second on every Linux ABI.
            var ticks = CgroupManager.ReadKeyed(acct, "cpuacct.stat");
            s.Cpu.UserUsage = ticks.GetValueOrDefault("user") * 10_000_000;
            s.Cpu.KernelUsage = ticks.GetValueOrDefault("system") * 10_000_000;
        }
        if (dirs.TryGetValue("cpu", out var cpu))
        {
            var stat = CgroupManager.ReadKeyed(cpu, "cpu.stat");
            s.Cpu.ThrottlingPeriods = stat.GetValueOrDefault("nr_periods");
            s.Cpu.ThrottledPeriods = stat.GetValueOrDefault("nr_throttled");
            s.Cpu.ThrottledTime = stat.GetValueOrDefault("throttled_time");
        }
        if (dirs.TryGetValue("memory", out var mem))
        {
            var m = s.Memory;
            m.Usage = CgroupManager.ReadU64(mem, "memory.usage_in_bytes");
            m.MaxUsage = CgroupManager.ReadU64(mem, "memory.max_usage_in_bytes");
            m.Limit = CgroupManager.ReadU64(mem, "memory.limit_in_bytes");
            m.Failcnt = CgroupManager.ReadU64(mem, "memory.failcnt");
            m.SwapUsage = CgroupManager.ReadU64(mem, "memory.memsw.usage_in_bytes");
            m.SwapLimit = CgroupManager.ReadU64(mem, "memory.memsw.limit_in_bytes");
            m.Raw = CgroupManager.ReadKeyed(mem, "memory.stat");
            m.Cache = m.Raw.GetValueOrDefault("cache");
            m.OomKills = CgroupManager.ReadKeyed(mem, "memory.oom_control").GetValueOrDefault("oom_kill");
        }
        if (dirs.TryGetValue("pids", out var pids))
        {
            s.Pids.Current = CgroupManager.ReadU64(pids, "pids.current");
            var max = CgroupManager.ReadU64(pids, "pids.max");
            s.Pids.Limit = max == ulong.MaxValue ? 0 : max;
        }
        if (dirs.TryGetValue("blkio", out var blkio))
        {
            // CFQ's counters when the kernel has them, else the throttle layer's, which always counts.
            var prefix = CgroupManager.Exists(blkio, "blkio.io_service_bytes_recursive") ? "blkio." : "blkio.throttle.";
            s.Blkio.IoServiceBytesRecursive = BlkioEntries(CgroupManager.Read(blkio, prefix + "io_service_bytes_recursive"));
            s.Blkio.IoServicedRecursive = BlkioEntries(CgroupManager.Read(blkio, prefix + "io_serviced_recursive"));
        }
        if (dirs.TryGetValue("hugetlb", out var huge))
            foreach (var size in pageSizes())
                s.Hugetlb[size] = new HugetlbStats
                {
                    Usage = CgroupManager.ReadU64(huge, $"hugetlb.{size}.usage_in_bytes"),
                    MaxUsage = CgroupManager.ReadU64(huge, $"hugetlb.{size}.max_usage_in_bytes"),
                    Failcnt = CgroupManager.ReadU64(huge, $"hugetlb.{size}.failcnt"),
                };
        else if (UnifiedInUse) s.Hugetlb = unified!.Stats().Hugetlb;
        return s;
    }

    public bool OomKilled() =>
        dirs.TryGetValue("memory", out var mem) && CgroupManager.ReadKeyed(mem, "memory.oom_control").GetValueOrDefault("oom_kill") > 0;

    /// <summary>Lines of "MAJ:MIN Op Value"; the "Total" summary lines are dropped.</summary>
    internal static List<BlkioEntry> BlkioEntries(string? text)
    {
        var entries = new List<BlkioEntry>();
        foreach (var line in (text ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 3) continue;
            var dev = f[0].Split(':');
            if (dev.Length == 2 && ulong.TryParse(dev[0], out var major) && ulong.TryParse(dev[1], out var minor) && ulong.TryParse(f[2], out var value))
                entries.Add(new BlkioEntry(major, minor, f[1], value));
        }
        return entries;
    }

    public IReadOnlyList<int> Processes()
    {
        foreach (var controller in new[] { "freezer", "pids", "memory", "cpu" })
            if (dirs.TryGetValue(controller, out var dir)) return CgroupManager.ReadProcs(dir);
        return Paths.Count > 0 ? CgroupManager.ReadProcs(Paths[0]) : [];
    }

    public void Destroy()
    {
        // Frozen tasks cannot act on SIGKILL; thaw first so Remove's kill takes effect.
        if (IsFrozen) Freeze(false);
        foreach (var dir in Paths) CgroupManager.Remove(dir);
        if (unified is not null) unified.Destroy();
    }
}
