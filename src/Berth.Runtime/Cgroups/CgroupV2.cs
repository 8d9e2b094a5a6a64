using Berth.Runtime.Oci;

namespace Berth.Runtime.Cgroups;

/// <summary>A cgroup in the unified (v2) hierarchy mounted at <c>root</c>.</summary>
public sealed class CgroupV2 : ICgroupManager
{
    static readonly string[] Wanted = ["cpuset", "cpu", "io", "memory", "pids", "hugetlb"];
    readonly string root;
    readonly string dir;
    readonly Func<IReadOnlyList<string>> pageSizes;

    public CgroupV2(string root, string cgroupsPath, Func<IReadOnlyList<string>>? hugePageSizes = null)
    {
        this.root = Path.GetFullPath(root);
        dir = CgroupManager.Under(this.root, cgroupsPath);
        pageSizes = hugePageSizes ?? (() => CgroupManager.HugePageSizes());
    }

    public IReadOnlyList<string> Paths => [dir];

    public void Create()
    {
        // Controllers must be enabled in every ancestor's subtree_control for the leaf to get their files.
        var relative = Path.GetRelativePath(root, dir).Split('/');
        var current = root;
        foreach (var part in relative)
        {
            var available = (CgroupManager.Read(current, "cgroup.controllers") ?? "")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var enabled = (CgroupManager.Read(current, "cgroup.subtree_control") ?? "")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var enable = Wanted.Where(c => available.Contains(c) && !enabled.Contains(c)).Select(c => "+" + c).ToArray();
            if (enable.Length > 0) CgroupManager.Write(current, "cgroup.subtree_control", string.Join(' ', enable));
            current = Path.Combine(current, part);
            Directory.CreateDirectory(current);
        }
    }

    public void Apply(LinuxResources? r)
    {
        if (r is null) return;
        if (r.Memory is { } m)
        {
            if (m.Limit is { } limit) CgroupManager.Write(dir, "memory.max", limit > 0 ? limit.ToString() : "max");
            // v2 limits swap alone; the spec (like v1's memsw) gives memory+swap.
            if (m.Swap is { } swap and not 0)
                CgroupManager.Write(dir, "memory.swap.max", swap < 0 ? "max" : m.Limit is { } l and > 0 ? Math.Max(0, swap - l).ToString()
                    : throw new RuntimeException("linux.resources.memory.swap needs memory.limit on cgroup v2"));
            if (m.Reservation is { } reservation and not 0) CgroupManager.Write(dir, "memory.low", reservation > 0 ? reservation.ToString() : "max");
            if (m.DisableOomKiller == true) throw new RuntimeException("disableOOMKiller is not supported on cgroup v2");
        }
        if (r.Cpu is { } c)
        {
            if (c.Shares is { } shares and > 0) CgroupManager.Write(dir, "cpu.weight", SharesToWeight(shares).ToString());
            if (c.Quota is not null || c.Period is not null)
            {
                var quota = c.Quota is { } q and > 0 ? q.ToString() : "max";
                CgroupManager.Write(dir, "cpu.max", $"{quota} {c.Period ?? 100000}");
            }
            if (c.Burst is { } burst and >= 0) CgroupManager.Write(dir, "cpu.max.burst", burst.ToString());
            if (c.Idle is { } idle) CgroupManager.Write(dir, "cpu.idle", idle.ToString());
            if (c.RealtimePeriod is not null || c.RealtimeRuntime is not null) throw new RuntimeException("realtime cpu limits are not supported on cgroup v2");
            if (c.Cpus is { Length: > 0 } cpus) CgroupManager.Write(dir, "cpuset.cpus", cpus);
            if (c.Mems is { Length: > 0 } mems) CgroupManager.Write(dir, "cpuset.mems", mems);
        }
        if (r.Pids is { } pids) CgroupManager.Write(dir, "pids.max", pids.Limit > 0 ? pids.Limit.ToString() : "max");
        if (r.BlockIO is { } io) ApplyIo(io);
        foreach (var h in r.HugepageLimits ?? [])
            CgroupManager.Write(dir, $"hugetlb.{CgroupManager.CheckPageSize(h.PageSize, pageSizes())}.max", h.Limit.ToString());
        if (r.Devices is { Count: > 0 } rules) DeviceFilter.Attach(dir, rules.Concat(CgroupV1.DefaultAllowed).ToList());
        foreach (var (key, value) in r.Unified ?? [])
        {
            // A key names an interface file of this cgroup; anything with a path in it could reach elsewhere.
            if (key.Contains('/') || key.StartsWith('.') || !key.Contains('.'))
                throw new RuntimeException($"linux.resources.unified: \"{key}\" is not a cgroup interface file name");
            CgroupManager.Write(dir, key, value);
        }
    }

    void ApplyIo(LinuxBlockIO io)
    {
        // io.weight is 1-10000 where blkio.weight was 10-1000, as runc converts it.
        if (io.Weight is { } weight and > 0) CgroupManager.Write(dir, "io.weight", BlkioToIoWeight(weight).ToString());
        foreach (var d in io.WeightDevice ?? [])
            if (d.Weight is { } w) CgroupManager.Write(dir, "io.weight", $"{d.Major}:{d.Minor} {BlkioToIoWeight(w)}");
        Max(io.ThrottleReadBpsDevice, "rbps");
        Max(io.ThrottleWriteBpsDevice, "wbps");
        Max(io.ThrottleReadIopsDevice, "riops");
        Max(io.ThrottleWriteIopsDevice, "wiops");

        void Max(List<LinuxThrottleDevice>? devices, string key)
        {
            foreach (var d in devices ?? []) CgroupManager.Write(dir, "io.max", $"{d.Major}:{d.Minor} {key}={(d.Rate == 0 ? "max" : d.Rate.ToString())}");
        }
    }

    /// <summary>The cgroup v1 cpu.shares range [2, 262144] mapped onto cpu.weight [1, 10000], as runc and crun do.</summary>
    public static ulong SharesToWeight(ulong shares) => 1 + (Math.Clamp(shares, 2, 262144) - 2) * 9999 / 262142;

    /// <summary>blkio.weight [10, 1000] mapped onto io.weight [1, 10000].</summary>
    public static ulong BlkioToIoWeight(ulong weight) => 1 + (Math.Clamp(weight, 10, 1000) - 10) * 9999 / 990;

    public void AddProcess(int pid) => CgroupManager.Write(dir, "cgroup.procs", pid.ToString());

    // A v2 domain cgroup takes whole processes only (threads move within a threaded subtree).
    public bool JoinAsThread() => false;

    public void Freeze(bool frozen)
    {
        CgroupManager.Write(dir, "cgroup.freeze", frozen ? "1" : "0");
        // cgroup.events reports when every task has actually stopped (or resumed).
        if (CgroupManager.Exists(dir, "cgroup.events"))
            CgroupManager.WaitFor(() => Frozen() == frozen, frozen ? "freeze" : "thaw");
    }

    bool? Frozen() => CgroupManager.Exists(dir, "cgroup.events")
        ? CgroupManager.ReadKeyed(dir, "cgroup.events").GetValueOrDefault("frozen") == 1
        : null;

    public bool IsFrozen => Frozen() ?? CgroupManager.Read(dir, "cgroup.freeze")?.Trim() == "1";

    public CgroupStats Stats()
    {
        var s = new CgroupStats();
        var cpu = CgroupManager.ReadKeyed(dir, "cpu.stat");
        s.Cpu.TotalUsage = cpu.GetValueOrDefault("usage_usec") * 1000;
        s.Cpu.UserUsage = cpu.GetValueOrDefault("user_usec") * 1000;
        s.Cpu.KernelUsage = cpu.GetValueOrDefault("system_usec") * 1000;
        s.Cpu.ThrottlingPeriods = cpu.GetValueOrDefault("nr_periods");
        s.Cpu.ThrottledPeriods = cpu.GetValueOrDefault("nr_throttled");
        s.Cpu.ThrottledTime = cpu.GetValueOrDefault("throttled_usec") * 1000;

        var m = s.Memory;
        m.Usage = CgroupManager.ReadU64(dir, "memory.current");
        m.MaxUsage = CgroupManager.ReadU64(dir, "memory.peak");
        m.Limit = CgroupManager.Exists(dir, "memory.max") ? CgroupManager.ReadU64(dir, "memory.max") : ulong.MaxValue;
        m.SwapUsage = CgroupManager.ReadU64(dir, "memory.swap.current");
        m.SwapLimit = CgroupManager.Exists(dir, "memory.swap.max") ? CgroupManager.ReadU64(dir, "memory.swap.max") : ulong.MaxValue;
        m.Raw = CgroupManager.ReadKeyed(dir, "memory.stat");
        m.Cache = m.Raw.GetValueOrDefault("file");
        var events = CgroupManager.ReadKeyed(dir, "memory.events");
        m.OomKills = events.GetValueOrDefault("oom_kill");
        m.Failcnt = events.GetValueOrDefault("max");

        s.Pids.Current = CgroupManager.ReadU64(dir, "pids.current");
        var maxPids = CgroupManager.ReadU64(dir, "pids.max");
        s.Pids.Limit = maxPids == ulong.MaxValue ? 0 : maxPids;

        foreach (var line in (CgroupManager.Read(dir, "io.stat") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var dev = f[0].Split(':');
            if (dev.Length != 2 || !ulong.TryParse(dev[0], out var major) || !ulong.TryParse(dev[1], out var minor)) continue;
            var kv = f.Skip(1).Select(p => p.Split('=')).Where(p => p.Length == 2 && ulong.TryParse(p[1], out _))
                .ToDictionary(p => p[0], p => ulong.Parse(p[1]));
            s.Blkio.IoServiceBytesRecursive.Add(new BlkioEntry(major, minor, "Read", kv.GetValueOrDefault("rbytes")));
            s.Blkio.IoServiceBytesRecursive.Add(new BlkioEntry(major, minor, "Write", kv.GetValueOrDefault("wbytes")));
            s.Blkio.IoServicedRecursive.Add(new BlkioEntry(major, minor, "Read", kv.GetValueOrDefault("rios")));
            s.Blkio.IoServicedRecursive.Add(new BlkioEntry(major, minor, "Write", kv.GetValueOrDefault("wios")));
        }

        foreach (var size in pageSizes())
            if (CgroupManager.Exists(dir, $"hugetlb.{size}.current"))
                s.Hugetlb[size] = new HugetlbStats
                {
                    Usage = CgroupManager.ReadU64(dir, $"hugetlb.{size}.current"),
                    Failcnt = CgroupManager.ReadKeyed(dir, $"hugetlb.{size}.events").GetValueOrDefault("max"),
                };
        return s;
    }

    public bool OomKilled() => CgroupManager.ReadKeyed(dir, "memory.events").GetValueOrDefault("oom_kill") > 0;

    public IReadOnlyList<int> Processes() => CgroupManager.ReadProcs(dir);

    public void Destroy()
    {
        if (Directory.Exists(dir) && IsFrozen) Freeze(false);
        CgroupManager.Remove(dir);
    }
}
