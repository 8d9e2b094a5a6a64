using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>cgroup logic against a fake cgroupfs: plain files in a temp dir stand in for the kernel's.</summary>
public sealed class CgroupTests : IDisposable
{
    readonly DirectoryInfo root = Directory.CreateTempSubdirectory("berth-fake-cgroupfs-");

    public void Dispose() => root.Delete(recursive: true);

    string Read(string relative) => File.ReadAllText(Path.Combine(root.FullName, relative));

    [Fact]
    public void V2_create_enables_available_controllers_in_the_root_and_makes_the_directories()
    {
        File.WriteAllText(Path.Combine(root.FullName, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma\n");
        var cg = new CgroupV2(root.FullName, "/berth/c1");
        cg.Create();
        Assert.True(Directory.Exists(Path.Combine(root.FullName, "berth/c1")));
        Assert.Equal("+cpuset +cpu +io +memory +pids +hugetlb", Read("cgroup.subtree_control"));
        Assert.Equal([Path.Combine(root.FullName, "berth/c1")], cg.Paths);
    }

    [Fact]
    public void V2_apply_writes_memory_cpu_and_pids_limits()
    {
        var cg = new CgroupV2(root.FullName, "c2");
        cg.Create();
        cg.Apply(new LinuxResources
        {
            Memory = new LinuxMemory { Limit = 64 << 20 },
            Cpu = new LinuxCpu { Shares = 1024, Quota = 50000, Period = 100000, Cpus = "0" },
            Pids = new LinuxPids { Limit = 20 },
        });
        Assert.Equal((64 << 20).ToString(), Read("c2/memory.max"));
        Assert.Equal("39", Read("c2/cpu.weight"));
        Assert.Equal("50000 100000", Read("c2/cpu.max"));
        Assert.Equal("0", Read("c2/cpuset.cpus"));
        Assert.Equal("20", Read("c2/pids.max"));
    }

    [Fact]
    public void V2_apply_writes_max_for_unlimited_values()
    {
        var cg = new CgroupV2(root.FullName, "c3");
        cg.Create();
        cg.Apply(new LinuxResources { Memory = new LinuxMemory { Limit = -1 }, Cpu = new LinuxCpu { Quota = -1 }, Pids = new LinuxPids { Limit = 0 } });
        Assert.Equal("max", Read("c3/memory.max"));
        Assert.Equal("max 100000", Read("c3/cpu.max"));
        Assert.Equal("max", Read("c3/pids.max"));
    }

    [Fact]
    public void V2_add_process_writes_the_pid_and_destroy_is_idempotent()
    {
        var cg = new CgroupV2(root.FullName, "c4");
        cg.Create();
        cg.AddProcess(4242);
        Assert.Equal("4242", Read("c4/cgroup.procs"));
        // The kernel's interface files vanish with the directory; the fake's must be removed by hand.
        File.Delete(Path.Combine(root.FullName, "c4/cgroup.procs"));
        cg.Destroy();
        Assert.False(Directory.Exists(Path.Combine(root.FullName, "c4")));
        cg.Destroy();
    }

    [Fact]
    public void Cgroups_path_that_climbs_out_of_the_hierarchy_is_rejected()
    {
        Assert.Throws<RuntimeException>(() => new CgroupV2(root.FullName, "../../etc"));
    }

    [Theory]
    [InlineData(2UL, 1UL)]
    [InlineData(1024UL, 39UL)]
    [InlineData(262144UL, 10000UL)]
    public void Shares_map_onto_weights_like_runc(ulong shares, ulong weight) => Assert.Equal(weight, CgroupV2.SharesToWeight(shares));

    [Fact]
    public void V1_hierarchies_are_read_from_mountinfo()
    {
        string[] mountinfo =
        [
            "25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
            "33 32 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate",
            "37 32 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct",
            "38 32 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory",
            "39 32 0:35 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,xattr,name=systemd",
        ];
        var h = CgroupV1.Hierarchies(mountinfo);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", h["cpu"]);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", h["cpuacct"]);
        Assert.Equal("/sys/fs/cgroup/memory", h["memory"]);
        Assert.Equal(3, h.Count);
        Assert.Equal(2, new CgroupV1(h, "/x").Paths.Count);
    }

    [Fact]
    public void Leftover_empty_cgroups_are_removed_from_every_hierarchy_named_and_v2_included()
    {
        string Mount(string name) => Path.Combine(root.FullName, name);
        string[] mountinfo =
        [
            $"33 32 0:29 / {Mount("unified")} rw,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate",
            $"38 32 0:34 / {Mount("memory")} rw,relatime shared:16 - cgroup cgroup rw,memory",
            $"39 32 0:35 / {Mount("systemd")} rw,relatime shared:17 - cgroup cgroup rw,xattr,name=systemd",
            $"40 32 0:36 / {Mount("cpu")} rw,relatime shared:18 - cgroup cgroup rw,cpu",
            $"25 30 0:22 / {Mount("sysfs")} rw,relatime shared:7 - sysfs sysfs rw",
        ];
        foreach (var h in new[] { "unified", "memory", "systemd", "cpu", "sysfs" }) Directory.CreateDirectory(Path.Combine(Mount(h), "berth", "c1"));
        // Still in use: a child cgroup below it, which rmdir refuses as the kernel does for a cgroup with children.
        Directory.CreateDirectory(Path.Combine(Mount("cpu"), "berth", "c1", "child"));

        CgroupManager.TryRemoveEmpty("/berth/c1", mountinfo);

        foreach (var h in new[] { "unified", "memory", "systemd" }) Assert.False(Directory.Exists(Path.Combine(Mount(h), "berth", "c1")), h);
        Assert.True(Directory.Exists(Path.Combine(Mount("cpu"), "berth", "c1", "child")));
        Assert.True(Directory.Exists(Path.Combine(Mount("sysfs"), "berth", "c1")), "not a cgroup mount");
        // An empty directory beside the mounts, which a path climbing out of a hierarchy would name.
        Directory.CreateDirectory(Path.Combine(root.FullName, "escape"));
        CgroupManager.TryRemoveEmpty("/../escape", mountinfo);
        Assert.True(Directory.Exists(Path.Combine(root.FullName, "escape")));
    }

    [Fact]
    public void V1_device_rules_follow_the_spec_then_the_default_allow_list()
    {
        var devices = Path.Combine(root.FullName, "devices");
        Directory.CreateDirectory(devices);
        var cg = new CgroupV1(new Dictionary<string, string> { ["devices"] = devices }, "/c6");
        cg.Create();
        cg.Apply(new LinuxResources { Devices = [new LinuxDeviceCgroup { Allow = false, Access = "rwm" }, new LinuxDeviceCgroup { Allow = true, Type = "b", Major = 8, Minor = 0, Access = "r" }] });
        // The fake keeps only the last write per file; the order of writes is what the rule strings check.
        Assert.Equal("a", CgroupV1.DeviceRule(new LinuxDeviceCgroup { Allow = false, Access = "rwm" }));
        Assert.Equal("b 8:0 r", CgroupV1.DeviceRule(new LinuxDeviceCgroup { Allow = true, Type = "b", Major = 8, Minor = 0, Access = "r" }));
        Assert.Equal("c 136:* rwm", CgroupV1.DeviceRule(CgroupV1.DefaultAllowed[^2]));
        Assert.Equal("c 10:200 rwm", Read("devices/c6/devices.allow"));
        Assert.Equal("a", Read("devices/c6/devices.deny"));
    }

    [Fact]
    public void V1_cpuset_inherits_cpus_and_mems_from_the_parent()
    {
        var cpuset = Path.Combine(root.FullName, "cpuset");
        Directory.CreateDirectory(cpuset);
        File.WriteAllText(Path.Combine(cpuset, "cpuset.cpus"), "0-1\n");
        File.WriteAllText(Path.Combine(cpuset, "cpuset.mems"), "0\n");
        var cg = new CgroupV1(new Dictionary<string, string> { ["cpuset"] = cpuset }, "/c5");
        cg.Create();
        Assert.Equal("0-1", Read("cpuset/c5/cpuset.cpus"));
        Assert.Equal("0", Read("cpuset/c5/cpuset.mems"));
    }

    /// <summary>A v1 cgroup whose every controller is its own directory under the fake root, named like the controller.</summary>
    CgroupV1 FakeV1(string path, string? unified = null, params string[] controllers)
    {
        var h = new Dictionary<string, string>();
        foreach (var c in controllers.Length > 0 ? controllers : ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer"])
        {
            h[c] = Path.Combine(root.FullName, c);
            Directory.CreateDirectory(h[c]);
        }
        return new CgroupV1(h, path, unified, () => ["2MB", "1GB"]);
    }

    void Fake(string relative, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root.FullName, relative))!);
        File.WriteAllText(Path.Combine(root.FullName, relative), content);
    }

    [Fact]
    public void V1_memory_writes_limit_swap_reservation_swappiness_and_oom_killer()
    {
        var cg = FakeV1("/m1");
        cg.Create();
        Fake("memory/m1/memory.limit_in_bytes", "9223372036854771712\n");
        Fake("memory/m1/memory.memsw.limit_in_bytes", "9223372036854771712\n");
        cg.Apply(new LinuxResources { Memory = new LinuxMemory { Limit = 64 << 20, Swap = 128 << 20, Reservation = 32 << 20, Swappiness = 10, DisableOomKiller = true } });
        Assert.Equal((64 << 20).ToString(), Read("memory/m1/memory.limit_in_bytes"));
        Assert.Equal((128 << 20).ToString(), Read("memory/m1/memory.memsw.limit_in_bytes"));
        Assert.Equal((32 << 20).ToString(), Read("memory/m1/memory.soft_limit_in_bytes"));
        Assert.Equal("10", Read("memory/m1/memory.swappiness"));
        Assert.Equal("1", Read("memory/m1/memory.oom_control"));
    }

    [Fact]
    public void V1_swap_limit_without_swap_accounting_is_a_clear_error()
    {
        var cg = FakeV1("/m2");
        cg.Create();
        var e = Assert.Throws<RuntimeException>(() => cg.Apply(new LinuxResources { Memory = new LinuxMemory { Limit = 1 << 20, Swap = 2 << 20 } }));
        Assert.Contains("swap accounting", e.Message);
        Assert.Throws<RuntimeException>(() => cg.Apply(new LinuxResources { Memory = new LinuxMemory { Swappiness = 101 } }));
    }

    [Fact]
    public void V1_blkio_uses_bfq_weight_when_cfq_is_absent_and_writes_throttles()
    {
        var cg = FakeV1("/b1");
        cg.Create();
        Fake("blkio/b1/blkio.bfq.weight", "100\n");
        cg.Apply(new LinuxResources
        {
            BlockIO = new LinuxBlockIO
            {
                Weight = 300,
                ThrottleReadBpsDevice = [new LinuxThrottleDevice { Major = 8, Minor = 0, Rate = 1048576 }],
                ThrottleWriteIopsDevice = [new LinuxThrottleDevice { Major = 8, Minor = 16, Rate = 50 }],
            },
        });
        Assert.Equal("300", Read("blkio/b1/blkio.bfq.weight"));
        Assert.Equal("8:0 1048576", Read("blkio/b1/blkio.throttle.read_bps_device"));
        Assert.Equal("8:16 50", Read("blkio/b1/blkio.throttle.write_iops_device"));
        File.Delete(Path.Combine(root.FullName, "blkio/b1/blkio.bfq.weight"));
        Assert.Contains("not supported", Assert.Throws<RuntimeException>(() => cg.Apply(new LinuxResources { BlockIO = new LinuxBlockIO { Weight = 300 } })).Message);
    }

    [Fact]
    public void V1_limit_for_an_unmounted_controller_names_it()
    {
        var cg = FakeV1("/n1", null, "memory");
        cg.Create();
        var e = Assert.Throws<RuntimeException>(() => cg.Apply(new LinuxResources { Pids = new LinuxPids { Limit = 5 } }));
        Assert.Contains("pids", e.Message);
        e = Assert.Throws<RuntimeException>(() => cg.Apply(new LinuxResources { HugepageLimits = [new() { PageSize = "2MB", Limit = 1 }] }));
        Assert.Contains("hugetlb", e.Message);
    }

    [Fact]
    public void Hybrid_host_puts_hugetlb_limits_in_the_v2_tree_only_when_asked()
    {
        var unified = Path.Combine(root.FullName, "unified");
        Fake("unified/cgroup.controllers", "hugetlb\n");
        var cg = FakeV1("/berth/h1", unified);
        cg.Create();
        cg.AddProcess(77);
        Assert.False(Directory.Exists(Path.Combine(unified, "berth/h1")));
        Fake("memory/berth/h1/cgroup.procs", "77\n");
        cg.Apply(new LinuxResources { HugepageLimits = [new() { PageSize = "2MB", Limit = 4 << 20 }] });
        Assert.Equal("+hugetlb", Read("unified/cgroup.subtree_control"));
        Assert.Equal((4 << 20).ToString(), Read("unified/berth/h1/hugetlb.2MB.max"));
        Assert.Equal("77", Read("unified/berth/h1/cgroup.procs"));
        Assert.Contains("not supported", Assert.Throws<RuntimeException>(() =>
            cg.Apply(new LinuxResources { HugepageLimits = [new() { PageSize = "3MB", Limit = 1 }] })).Message);
    }

    [Fact]
    public void A_thread_joins_a_v1_cgroup_by_writing_itself_to_every_tasks_file_unless_frozen_or_split_with_v2()
    {
        var cg = FakeV1("/t1");
        cg.Create();
        Assert.True(cg.JoinAsThread());
        foreach (var c in new[] { "memory", "cpu", "cpuacct", "pids", "blkio", "freezer" })
            Assert.Equal("0", Read($"{c}/t1/tasks"));

        var frozen = FakeV1("/t2");
        frozen.Create();
        frozen.Freeze(true);
        Assert.False(frozen.JoinAsThread());
        Assert.False(File.Exists(Path.Combine(root.FullName, "memory/t2/tasks")));

        var unified = Path.Combine(root.FullName, "unified");
        Fake("unified/cgroup.controllers", "hugetlb\n");
        var hybrid = FakeV1("/t3", unified);
        hybrid.Create();
        hybrid.Apply(new LinuxResources { HugepageLimits = [new() { PageSize = "2MB", Limit = 1 << 21 }] });
        Assert.False(hybrid.JoinAsThread());
        Assert.False(new CgroupV2(unified, "/t4").JoinAsThread());
    }

    [Fact]
    public void V1_freezer_writes_the_state_and_reports_it()
    {
        var cg = FakeV1("/f1");
        cg.Create();
        Assert.False(cg.IsFrozen);
        cg.Freeze(true);
        Assert.Equal("FROZEN", Read("freezer/f1/freezer.state"));
        Assert.True(cg.IsFrozen);
        cg.Freeze(false);
        Assert.Equal("THAWED", Read("freezer/f1/freezer.state"));
        Assert.False(cg.IsFrozen);
    }

    [Fact]
    public void V1_stats_read_cpu_memory_pids_and_blkio_counters()
    {
        var cg = FakeV1("/s1");
        cg.Create();
        Fake("cpuacct/s1/cpuacct.usage", "123456789\n");
        Fake("cpuacct/s1/cpuacct.usage_percpu", "100000000 23456789 \n");
        Fake("cpuacct/s1/cpuacct.stat", "user 7\nsystem 3\n");
        Fake("cpu/s1/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n");
        Fake("memory/s1/memory.usage_in_bytes", "4096000\n");
        Fake("memory/s1/memory.max_usage_in_bytes", "8192000\n");
        Fake("memory/s1/memory.limit_in_bytes", "67108864\n");
        Fake("memory/s1/memory.stat", "cache 1024\nrss 2048\ntotal_cache 1024\n");
        Fake("memory/s1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        Fake("pids/s1/pids.current", "3\n");
        Fake("pids/s1/pids.max", "max\n");
        Fake("blkio/s1/blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n");
        var s = cg.Stats();
        Assert.Equal(123456789UL, s.Cpu.TotalUsage);
        Assert.Equal([100000000UL, 23456789UL], s.Cpu.PerCpuUsage);
        Assert.Equal(70_000_000UL, s.Cpu.UserUsage);
        Assert.Equal(30_000_000UL, s.Cpu.KernelUsage);
        Assert.Equal(2UL, s.Cpu.ThrottledPeriods);
        Assert.Equal(5000UL, s.Cpu.ThrottledTime);
        Assert.Equal(4096000UL, s.Memory.Usage);
        Assert.Equal(8192000UL, s.Memory.MaxUsage);
        Assert.Equal(67108864UL, s.Memory.Limit);
        Assert.Equal(1024UL, s.Memory.Cache);
        Assert.Equal(2048UL, s.Memory.Raw["rss"]);
        Assert.Equal(2UL, s.Memory.OomKills);
        Assert.Equal(3UL, s.Pids.Current);
        Assert.Equal(0UL, s.Pids.Limit);
        Assert.Equal([new BlkioEntry(8, 0, "Read", 4096), new BlkioEntry(8, 0, "Write", 8192), new BlkioEntry(8, 0, "Total", 12288)], s.Blkio.IoServiceBytesRecursive);
    }

    [Fact]
    public void V2_stats_read_cpu_memory_io_pids_and_hugetlb()
    {
        var cg = new CgroupV2(root.FullName, "s2", () => ["2MB"]);
        cg.Create();
        Fake("s2/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n");
        Fake("s2/memory.current", "5000\n");
        Fake("s2/memory.max", "max\n");
        Fake("s2/memory.stat", "anon 3000\nfile 2000\n");
        Fake("s2/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        Fake("s2/pids.current", "2\n");
        Fake("s2/pids.max", "50\n");
        Fake("s2/io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n");
        Fake("s2/hugetlb.2MB.current", "2097152\n");
        var s = cg.Stats();
        Assert.Equal(1_500_000UL, s.Cpu.TotalUsage);
        Assert.Equal(1_000_000UL, s.Cpu.UserUsage);
        Assert.Equal(7000UL, s.Cpu.ThrottledTime);
        Assert.Equal(5000UL, s.Memory.Usage);
        Assert.Equal(ulong.MaxValue, s.Memory.Limit);
        Assert.Equal(2000UL, s.Memory.Cache);
        Assert.Equal(1UL, s.Memory.OomKills);
        Assert.Equal(3UL, s.Memory.Failcnt);
        Assert.Equal(50UL, s.Pids.Limit);
        Assert.Equal([new BlkioEntry(8, 0, "Read", 100), new BlkioEntry(8, 0, "Write", 200)], s.Blkio.IoServiceBytesRecursive);
        Assert.Equal(2097152UL, s.Hugetlb["2MB"].Usage);
    }

    [Fact]
    public void V2_apply_writes_io_hugetlb_reservation_and_swap()
    {
        var cg = new CgroupV2(root.FullName, "io1", () => ["2MB"]);
        cg.Create();
        cg.Apply(new LinuxResources
        {
            Memory = new LinuxMemory { Limit = 100, Swap = 300, Reservation = 50 },
            BlockIO = new LinuxBlockIO { Weight = 1000, ThrottleReadBpsDevice = [new LinuxThrottleDevice { Major = 8, Minor = 0, Rate = 4096 }] },
            HugepageLimits = [new() { PageSize = "2MB", Limit = 2097152 }],
        });
        Assert.Equal("200", Read("io1/memory.swap.max"));
        Assert.Equal("50", Read("io1/memory.low"));
        Assert.Equal("8:0 rbps=4096", Read("io1/io.max"));
        Assert.Equal("10000", Read("io1/io.weight"));
        Assert.Equal("2097152", Read("io1/hugetlb.2MB.max"));
    }

    [Fact]
    public void V2_unified_keys_must_name_an_interface_file()
    {
        var cg = new CgroupV2(root.FullName, "u1");
        cg.Create();
        cg.Apply(new LinuxResources { Unified = new() { ["memory.high"] = "1000" } });
        Assert.Equal("1000", Read("u1/memory.high"));
        foreach (var bad in new[] { "../../escape.file", "/etc/passwd", "nodot" })
            Assert.Throws<RuntimeException>(() => cg.Apply(new LinuxResources { Unified = new() { [bad] = "1" } }));
    }

    [Fact]
    public void V2_freeze_waits_for_the_frozen_event_and_reports_it()
    {
        var cg = new CgroupV2(root.FullName, "fz");
        cg.Create();
        Fake("fz/cgroup.events", "populated 1\nfrozen 1\n");
        cg.Freeze(true);
        Assert.Equal("1", Read("fz/cgroup.freeze"));
        Assert.True(cg.IsFrozen);
        Fake("fz/cgroup.events", "populated 1\nfrozen 0\n");
        cg.Freeze(false);
        Assert.Equal("0", Read("fz/cgroup.freeze"));
        Assert.False(cg.IsFrozen);
    }

    [Fact]
    public void Processes_lists_the_pids_in_cgroup_procs()
    {
        var cg = FakeV1("/p1");
        cg.Create();
        Fake("freezer/p1/cgroup.procs", "10\n20\n");
        Assert.Equal([10, 20], cg.Processes());
    }

    [Fact]
    public void Device_filter_tests_rules_last_first_and_denies_by_default()
    {
        var prog = DeviceFilter.Compile([
            new LinuxDeviceCgroup { Allow = false, Access = "rwm" },
            new LinuxDeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rw" },
        ]);
        // 6 loads, then the last rule (type, access, major, minor tests, r0, exit), then the first rule (r0, exit), which matches
        // everything, so no default follows.
        Assert.Equal(6 + 8 + 2, prog.Length);
        Assert.Equal(0x55, prog[6].Code);                  // jne r2 (type) ...
        Assert.Equal(2, prog[6].Imm);                      // ... char device
        Assert.Equal(7, prog[6].Off);                      // ... else skip the whole block
        Assert.Equal(~6, prog[8].Imm);                     // requested access outside rw fails
        Assert.Equal(1, prog[12].Imm);                     // allow
        Assert.Equal(0, prog[14].Imm);                     // the deny-all rule
        Assert.Equal(0, DeviceFilter.Compile([new LinuxDeviceCgroup { Allow = true, Type = "b", Access = "r" }])[^2].Imm);
        Assert.Throws<RuntimeException>(() => DeviceFilter.Compile([new LinuxDeviceCgroup { Type = "x" }]));
    }
}
