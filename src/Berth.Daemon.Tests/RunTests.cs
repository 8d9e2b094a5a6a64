using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>`berth run` and the container lifecycle, end to end through a real berthd.</summary>
public sealed class RunTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task Run_echo_prints_hello_and_exits_zero()
    {
        d.Require();
        var (code, stdout, stderr) = await d.Berth("run", "--rm", "busybox", "echo", "hello");
        Assert.True(code == 0, stderr);
        Assert.Equal("hello\n", stdout);
    }

    [Fact]
    public async Task Run_propagates_the_exit_code()
    {
        d.Require();
        var (code, _, _) = await d.Berth("run", "--rm", "busybox", "sh", "-c", "exit 3");
        Assert.Equal(3, code);
    }

    [Fact]
    public async Task Run_keeps_stdout_and_stderr_apart()
    {
        d.Require();
        var (code, stdout, stderr) = await d.Berth("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2");
        Assert.Equal(0, code);
        Assert.Equal("out\n", stdout);
        Assert.Equal("err\n", stderr);
    }

    [Fact]
    public async Task Container_is_pid_1_with_the_short_id_as_hostname()
    {
        d.Require();
        var (code, stdout, stderr) = await d.Berth("run", "--name", "hostcheck", "busybox", "sh", "-c", "echo $$; hostname; cat /etc/hostname");
        Assert.True(code == 0, stderr);
        var (_, id, _) = await d.Berth("inspect", "-f", "{{.Id}}", "hostcheck");
        var shortId = id.Trim()[..12];
        Assert.Equal($"1\n{shortId}\n{shortId}\n", stdout);
        await d.Berth("rm", "hostcheck");
    }

    [Fact]
    public async Task Container_has_its_own_namespaces_and_kernel_filesystems()
    {
        d.Require();
        var script = "for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done; test -d /proc/1 && echo proc; test -d /sys/kernel && echo sys; test -c /dev/null && echo dev; test -d /dev/pts && echo pts";
        var (code, stdout, stderr) = await d.Berth("run", "--rm", "busybox", "sh", "-c", script);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var (ns, i) in new[] { "pid", "mnt", "uts", "ipc", "net" }.Select((n, i) => (n, i)))
        {
            var host = new FileInfo($"/proc/self/ns/{ns}").LinkTarget;
            Assert.NotEqual(host, lines[i]);
        }
        Assert.Equal(new[] { "proc", "sys", "dev", "pts" }, lines[5..]);
    }

    [Fact]
    public async Task Container_network_namespace_has_loopback_up_and_nothing_else()
    {
        d.Require();
        var (code, stdout, stderr) = await d.Berth("run", "--rm", "busybox", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("lo", lines[0]);
        Assert.Equal(1, Convert.ToInt32(lines[1], 16) & 1); // IFF_UP
    }

    [Fact]
    public async Task Run_applies_env_workdir_user_and_entrypoint()
    {
        d.Require();
        var (code, stdout, stderr) = await d.Berth("run", "--rm", "-e", "FOO=bar", "-w", "/tmp/work", "-u", "nobody",
            "--entrypoint", "sh", "busybox", "-c", "echo $FOO; pwd; id -u; echo $HOME");
        Assert.True(code == 0, stderr);
        Assert.Equal("bar\n/tmp/work\n65534\n/nonexistent\n", stdout);
    }

    [Fact]
    public async Task Writes_in_a_container_do_not_reach_the_image()
    {
        d.Require();
        var (code, _, stderr) = await d.Berth("run", "--rm", "busybox", "sh", "-c", "echo x > /etc/scratch && rm /bin/ls");
        Assert.True(code == 0, stderr);
        var (code2, stdout, _) = await d.Berth("run", "--rm", "busybox", "sh", "-c", "test -e /etc/scratch && echo leaked; test -e /bin/ls && echo intact");
        Assert.Equal(0, code2);
        Assert.Equal("intact\n", stdout);
    }

    [Fact]
    public async Task Missing_executable_exits_127_with_a_clear_error()
    {
        d.Require();
        var (code, _, stderr) = await d.Berth("run", "--rm", "busybox", "no-such-program");
        Assert.Equal(127, code);
        Assert.Contains("executable file not found", stderr);
    }

    [Fact]
    public async Task Detached_container_logs_follow_and_stops_on_sigterm()
    {
        d.Require();
        var (code, id, stderr) = await d.Berth("run", "-d", "--name", "svc", "busybox", "sh", "-c",
            "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done");
        Assert.True(code == 0, stderr);
        Assert.Equal(64, id.Trim().Length);
        await WaitForLogAsync("svc", "started");
        var follow = d.Berth("logs", "-f", "svc");
        var (stopCode, stopOut, _) = await d.Berth("stop", "svc");
        Assert.Equal(0, stopCode);
        Assert.Equal("svc\n", stopOut);
        var (logsCode, logs, _) = await follow;
        Assert.Equal(0, logsCode);
        Assert.Equal("started\nbye\n", logs);
        var (_, exitCode, _) = await d.Berth("inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "svc");
        Assert.Equal("0 exited", exitCode.Trim());
        await d.Berth("rm", "svc");
    }

    [Fact]
    public async Task Stop_sends_sigkill_after_the_timeout()
    {
        d.Require();
        // pid 1 ignores SIGTERM when it has no handler, so only SIGKILL ends this one.
        var (code, _, stderr) = await d.Berth("run", "-d", "--name", "stubborn", "busybox", "sleep", "1000");
        Assert.True(code == 0, stderr);
        var started = DateTime.UtcNow;
        var (stopCode, _, _) = await d.Berth("stop", "-t", "1", "stubborn");
        Assert.Equal(0, stopCode);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
        var (_, state, _) = await d.Berth("inspect", "-f", "{{.State.ExitCode}}", "stubborn");
        Assert.Equal("137", state.Trim());
        await d.Berth("rm", "stubborn");
    }

    [Fact]
    public async Task Kill_rm_and_the_conflicts_docker_reports()
    {
        d.Require();
        await d.Berth("run", "-d", "--name", "victim", "busybox", "sleep", "1000");
        var (rmCode, _, rmErr) = await d.Berth("rm", "victim");
        Assert.Equal(1, rmCode);
        Assert.Contains("cannot remove container \"/victim\": container is running: stop the container before removing or force remove", rmErr);
        var (dupCode, _, dupErr) = await d.Berth("create", "--name", "victim", "busybox");
        Assert.NotEqual(0, dupCode);
        Assert.Contains("Conflict. The container name \"/victim\" is already in use", dupErr);
        var (killCode, killOut, _) = await d.Berth("kill", "victim");
        Assert.Equal(0, killCode);
        Assert.Equal("victim\n", killOut);
        var (_, waitOut, waitErr) = await d.Berth("wait", "victim");
        Assert.True(waitOut == "137\n", $"wait printed [{waitOut}], stderr: {waitErr}");
        var (kill2, _, kill2Err) = await d.Berth("kill", "victim");
        Assert.Equal(1, kill2);
        Assert.Contains("is not running", kill2Err);
        Assert.Equal(0, (await d.Berth("rm", "victim")).Code);
        var (_, _, goneErr) = await d.Berth("inspect", "victim");
        Assert.Contains("No such object: victim", goneErr);
    }

    [Fact]
    public async Task Ps_lists_running_and_with_a_all_containers()
    {
        d.Require();
        await d.Berth("run", "-d", "--name", "ps-running", "busybox", "sleep", "1000");
        await d.Berth("run", "--name", "ps-exited", "busybox", "true");
        var (_, running, _) = await d.Berth("ps", "--format", "{{.Names}}");
        var (_, all, _) = await d.Berth("ps", "-a", "--format", "{{.Names}} {{.Status}}");
        var (_, quiet, _) = await d.Berth("ps", "-aq", "--filter", "status=exited", "--filter", "name=ps-exited");
        Assert.Contains("ps-running", running);
        Assert.DoesNotContain("ps-exited", running);
        Assert.Contains("ps-exited Exited (0)", all);
        Assert.Matches("^[0-9a-f]{12}\n$", quiet);
        var (_, header, _) = await d.Berth("ps");
        Assert.StartsWith("CONTAINER ID   IMAGE", header);
        await d.Berth("rm", "-f", "ps-running", "ps-exited");
    }

    [Fact]
    public async Task Rootfs_is_an_overlay_of_the_image()
    {
        d.Require();
        var (_, driver, _) = await d.Berth("run", "--name", "drv", "busybox", "true");
        var (_, name, _) = await d.Berth("inspect", "-f", "{{.GraphDriver.Name}}", "drv");
        Assert.Equal("overlay2", name.Trim());
        await d.Berth("rm", "drv");
    }

    [Fact]
    public async Task Stopped_containers_leave_no_mounts_behind()
    {
        d.Require();
        await d.Berth("run", "--name", "mnt", "busybox", "true");
        var (_, id, _) = await d.Berth("inspect", "-f", "{{.Id}}", "mnt");
        Assert.Empty(Tools.MountsUnder(d.DataRoot).Where(m => m.Contains(id.Trim()[..12])));
        await d.Berth("rm", "mnt");
        Assert.False(Directory.Exists($"/sys/fs/cgroup/memory/berth/{id.Trim()}"));
    }

    async Task WaitForLogAsync(string container, string text)
    {
        for (int i = 0; i < 100; i++)
        {
            var (_, logs, _) = await d.Berth("logs", container);
            if (logs.Contains(text)) return;
            await Task.Delay(100);
        }
        Assert.Fail($"{container} never logged {text}");
    }
}
