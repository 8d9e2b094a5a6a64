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
}
