using Process = System.Diagnostics.Process;
using ProcessStartInfo = System.Diagnostics.ProcessStartInfo;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>cgroups on this host's real hierarchies, each test in a cgroup of its own that it removes.</summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed class CgroupHostTests : IDisposable
{
    readonly string path = "/berth-test-" + Guid.NewGuid().ToString("N")[..12];
    readonly List<ICgroupManager> made = [];
    readonly List<Process> started = [];

    public void Dispose()
    {
        foreach (var p in started) { try { p.Kill(); } catch (InvalidOperationException) { } p.WaitForExit(); p.Dispose(); }
        foreach (var cg in made) cg.Destroy();
    }

    static bool WaitUntil(Func<bool> condition)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < deadline; Thread.Sleep(20))
            if (condition()) return true;
        return condition();
    }

    static Process Busybox(string script)
    {
        var psi = new ProcessStartInfo("/bin/busybox") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "sh", "-c", script }) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    [Fact]
    public void Freezer_stops_and_resumes_a_real_process_and_stats_see_it()
    {
        if (CgroupManager.IsUnified(CgroupManager.DefaultRoot) is false && !Directory.Exists("/sys/fs/cgroup/freezer"))
            Assert.Skip("this host mounts no freezer controller");
        var cg = CgroupManager.ForPath(path);
        made.Add(cg);
        cg.Create();
        cg.Apply(new LinuxResources { Pids = new LinuxPids { Limit = 10 }, Memory = new LinuxMemory { Limit = 64 << 20 } });
        // The child waits on stdin until it is in the cgroup, so every tick it prints happens inside it.
        var counter = Busybox("read go; i=0; while true; do i=$((i+1)); echo $i; sleep 0.01; done");
        started.Add(counter);
        cg.AddProcess(counter.Id);
        counter.StandardInput.Close();
        Assert.Equal([counter.Id], cg.Processes().Where(p => p == counter.Id));

        // A dedicated thread reads the ticks: a pool thread could be starved by other tests running in parallel.
        var lines = new List<string>();
        int Count() { lock (lines) return lines.Count; }
        var reader = new Thread(() => { while (counter.StandardOutput.ReadLine() is { } l) lock (lines) lines.Add(l); }) { IsBackground = true };
        reader.Start();
        Assert.True(WaitUntil(() => Count() >= 3), "the counter never started");

        cg.Freeze(true);
        Assert.True(cg.IsFrozen);
        var stats = cg.Stats();
        Assert.True(stats.Pids.Current >= 1, $"pids.current {stats.Pids.Current}");
        Assert.Equal(10UL, stats.Pids.Limit);
        Assert.True(stats.Memory.Usage > 0);
        Assert.Equal((ulong)(64 << 20), stats.Memory.Limit);
        Assert.True(stats.Cpu.TotalUsage > 0);

        // Frozen: nothing more is printed once what was already written has been read.
        Thread.Sleep(200);
        var frozenCount = Count();
        Thread.Sleep(500);
        Assert.Equal(frozenCount, Count());
        cg.Freeze(false);
        Assert.False(cg.IsFrozen);
        Assert.True(WaitUntil(() => Count() > frozenCount), "no output after thawing");

        // Destroy kills what is left (even frozen) and removes every directory.
        cg.Freeze(true);
        cg.Destroy();
        made.Clear();
        Assert.True(counter.WaitForExit(5000));
        Assert.All(cg.Paths, p => Assert.False(Directory.Exists(p)));
    }

    [Fact]
    public void Device_ebpf_program_denies_a_device_in_a_real_v2_cgroup()
    {
        var unified = CgroupManager.IsUnified(CgroupManager.DefaultRoot) ? CgroupManager.DefaultRoot : "/sys/fs/cgroup/unified";
        if (!CgroupManager.IsUnified(unified)) Assert.Skip("this host has no cgroup v2 hierarchy to attach a device program to");
        var cg = new CgroupV2(unified, path);
        made.Add(cg);
        cg.Create();
        // Everything is allowed except reading /dev/kmsg (char 1:11; the devices every container gets, such as /dev/zero, are allowed after the spec's rules).
        cg.Apply(new LinuxResources
        {
            Devices = [new LinuxDeviceCgroup { Allow = true, Access = "rwm" }, new LinuxDeviceCgroup { Allow = false, Type = "c", Major = 1, Minor = 11, Access = "r" }],
        });
        var p = Busybox($"echo $$ > {Path.Combine(unified, path.TrimStart('/'))}/cgroup.procs || exit 9; " +
                        "(: < /dev/kmsg) 2>/dev/null && echo kmsg-open || echo kmsg-denied; echo x > /dev/null && echo null-ok");
        started.Add(p);
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.Equal("kmsg-denied\nnull-ok\n", output);
    }
}
