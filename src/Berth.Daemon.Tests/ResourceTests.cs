using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>Cgroup-backed container operations through berthd: pause, top, stats, update, limits and OOM.</summary>
public sealed class ResourceTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    /// <summary>A file of the container's cgroup on this host's v1 tree, or on a pure v2 host the unified one.</summary>
    static string CgroupFile(string id, string v1Controller, string v1File, string v2File)
    {
        var v1 = $"/sys/fs/cgroup/{v1Controller}/berth/{id}/{v1File}";
        return Directory.Exists($"/sys/fs/cgroup/{v1Controller}") ? v1 : $"/sys/fs/cgroup/berth/{id}/{v2File}";
    }

    async Task<string> RunDetached(params string[] args)
    {
        var (code, stdout, stderr) = await d.Berth(["run", "-d", .. args]);
        Assert.True(code == 0, stderr);
        return stdout.Trim();
    }

    [Fact]
    public async Task Docker_pause_freezes_the_container_and_unpause_thaws_it()
    {
        d.Require();
        var id = await RunDetached("--name", "pausable", "busybox", "sleep", "300");
        try
        {
            var (code, stdout, stderr) = await d.Docker("pause", "pausable");
            Assert.True(code == 0, stderr);
            Assert.Equal("pausable\n", stdout);
            var state = CgroupFile(id, "freezer", "freezer.state", "cgroup.freeze");
            Assert.Contains(File.ReadAllText(state).Trim(), new[] { "FROZEN", "1" });
            Assert.Equal("paused true\n", (await d.Docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "pausable")).Out);
            Assert.Contains("(Paused)", (await d.Docker("ps", "--filter", "name=pausable", "--format", "{{.Status}}")).Out);

            var again = await d.Docker("pause", "pausable");
            Assert.Equal(1, again.Code);
            Assert.Contains("is already paused", again.Err);
            var start = await d.Berth("start", "pausable");
            Assert.NotEqual(0, start.Code);
            Assert.Contains("cannot start a paused container", start.Err);

            (code, _, stderr) = await d.Berth("unpause", "pausable");
            Assert.True(code == 0, stderr);
            Assert.Contains(File.ReadAllText(state).Trim(), new[] { "THAWED", "0" });
            Assert.Equal("running\n", (await d.Docker("inspect", "-f", "{{.State.Status}}", "pausable")).Out);
            var notPaused = await d.Docker("unpause", "pausable");
            Assert.Contains("is not paused", notPaused.Err);

            // A paused container still stops: the signal is delivered once it is thawed.
            await d.Berth("pause", "pausable");
            (code, _, stderr) = await d.Docker("stop", "-t", "1", "pausable");
            Assert.True(code == 0, stderr);
            Assert.Equal("exited\n", (await d.Docker("inspect", "-f", "{{.State.Status}}", "pausable")).Out);
        }
        finally { await d.Berth("rm", "-f", "pausable"); }
    }

    [Fact]
    public async Task Top_lists_the_container_processes_with_ps_columns()
    {
        d.Require();
        await RunDetached("--name", "toppy", "busybox", "sh", "-c", "sleep 301 & sleep 302");
        try
        {
            var (code, stdout, stderr) = await d.Docker("top", "toppy");
            Assert.True(code == 0, stderr);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith("UID", lines[0]);
            Assert.Contains("PID", lines[0]);
            Assert.Contains(lines, l => l.EndsWith("sleep 301"));
            Assert.Contains(lines, l => l.EndsWith("sleep 302"));
            Assert.Equal(3, lines.Length); // header and the two sleeps (sh execs its last command): nothing from the host

            (code, stdout, stderr) = await d.Berth("top", "toppy", "-o", "pid,comm");
            Assert.True(code == 0, stderr);
            Assert.Matches(@"^PID\s+COMMAND\n", stdout);
            Assert.Equal(2, stdout.Split('\n').Count(l => l.EndsWith("sleep")));
        }
        finally { await d.Berth("rm", "-f", "toppy"); }
    }

    [Fact]
    public async Task Stats_report_memory_limit_and_pids_to_docker_and_berth()
    {
        d.Require();
        await RunDetached("--name", "statsy", "-m", "64m", "--pids-limit", "20", "busybox", "sh", "-c", "sleep 303 & sleep 304");
        try
        {
            var (code, stdout, stderr) = await d.Docker("stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}", "statsy");
            Assert.True(code == 0, stderr);
            var f = stdout.Trim().Split('|');
            Assert.Equal("statsy", f[0]);
            Assert.EndsWith(" / 64MiB", f[1]);
            Assert.Equal("2", f[2]); // sh execs its last command: two sleeps
            Assert.Matches(@"^\d+\.\d\d%$", f[3]);

            (code, stdout, stderr) = await d.Berth("stats", "--no-stream", "statsy");
            Assert.True(code == 0, stderr);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Matches(@"^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE / LIMIT\s+MEM %\s+NET I/O\s+BLOCK I/O\s+PIDS$", lines[0]);
            Assert.Contains("statsy", lines[1]);
            Assert.Contains("/ 64MiB", lines[1]);

            var one = await d.Client().GetStringAsync("/containers/statsy/stats?stream=false&one-shot=true", TestContext.Current.CancellationToken);
            Assert.Contains("\"pids_stats\":{\"current\":2,\"limit\":20}", one);
            Assert.Contains("\"limit\":67108864", one);
        }
        finally { await d.Berth("rm", "-f", "statsy"); }
    }

    [Fact]
    public async Task Update_changes_limits_of_a_running_container_and_keeps_them()
    {
        d.Require();
        var id = await RunDetached("--name", "updatable", "-m", "64m", "busybox", "sleep", "305");
        try
        {
            var (code, stdout, stderr) = await d.Docker("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "50", "--cpus", "0.5", "updatable");
            Assert.True(code == 0, stderr);
            Assert.Equal("updatable\n", stdout);
            Assert.Equal((128 << 20).ToString(), File.ReadAllText(CgroupFile(id, "memory", "memory.limit_in_bytes", "memory.max")).Trim());
            Assert.Equal("50", File.ReadAllText(CgroupFile(id, "pids", "pids.max", "pids.max")).Trim());
            Assert.Equal("50000", File.ReadAllText(CgroupFile(id, "cpu", "cpu.cfs_quota_us", "cpu.max")).Trim().Split(' ')[0]);
            Assert.Equal("134217728 268435456 50 500000000\n",
                (await d.Docker("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}", "updatable")).Out);

            var bad = await d.Berth("update", "--memory", "1g", "updatable");
            Assert.Equal(1, bad.Code);
            Assert.Contains("Memory limit should be smaller than already set memoryswap limit", bad.Err);
            var none = await d.Berth("update", "updatable");
            Assert.NotEqual(0, none.Code);
            Assert.Contains("you must provide one or more flags", none.Err);
        }
        finally { await d.Berth("rm", "-f", "updatable"); }
    }

    [Fact]
    public async Task Memory_hog_is_oom_killed_and_inspect_says_so()
    {
        d.Require();
        // tail keeps the newline-free /dev/zero in memory until the limit kills it.
        var (code, _, _) = await d.Berth("run", "--name", "hog", "-m", "16m", "--memory-swap", "16m", "busybox", "tail", "/dev/zero");
        try
        {
            Assert.Equal(137, code);
            Assert.Equal("true 137\n", (await d.Docker("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog")).Out);
        }
        finally { await d.Berth("rm", "-f", "hog"); }
    }

    [Fact]
    public async Task Device_flag_makes_the_node_and_allows_it_in_the_device_cgroup()
    {
        d.Require();
        if (!File.Exists("/dev/loop-control")) Assert.Skip("this host has no /dev/loop-control to pass in");
        // loop-control (char 10:237) is not among the devices every container gets, and opening it needs no capability.
        var (code, stdout, stderr) = await d.Berth("run", "--rm", "--device", "/dev/loop-control:/dev/lc:r", "busybox", "sh", "-c",
            "ls -l /dev/lc; (: < /dev/lc) && echo readable; (: > /dev/lc) 2>/dev/null && echo writable || echo not-writable");
        Assert.True(code == 0, stderr);
        Assert.Matches(@"^c[rw-]{9}\s+1 root\s+root\s+10,\s+237 .* /dev/lc\n", stdout);
        Assert.EndsWith("readable\nnot-writable\n", stdout);

        var missing = await d.Berth("run", "--rm", "--device", "/dev/does-not-exist", "busybox", "true");
        Assert.Equal(125, missing.Code);
        Assert.Contains("error gathering device information while adding custom device \"/dev/does-not-exist\"", missing.Err);
        // berth sends the rule as given (the docker CLI checks it before sending), so this is the daemon's own check.
        var badRule = await d.Berth("run", "--rm", "--device-cgroup-rule", "x 1:3 rwm", "busybox", "true");
        Assert.Equal(125, badRule.Code);
        Assert.Contains("invalid device cgroup rule \"x 1:3 rwm\"", badRule.Err);
    }
}
