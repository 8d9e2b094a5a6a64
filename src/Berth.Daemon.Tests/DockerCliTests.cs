using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>The real docker CLI (28.x, API negotiated down) against berthd, unchanged.</summary>
public sealed class DockerCliTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task Docker_import_then_run_rm_keeps_streams_apart()
    {
        d.Require();
        var rootfs = Path.Combine(d.Root, "dock-rootfs");
        var (bc, _, berr) = await Tools.RunAsync("bash", new[] { "-c",
            $"'{Tools.RepoRoot}/scripts/busybox-rootfs' '{rootfs}' && tar -C '{rootfs}' -c . | '{Tools.DockerCli}' -H {d.Host} import -c 'CMD [\"sh\"]' - dockbox:v1" },
            env: new() { ["DOCKER_CONFIG"] = Path.Combine(d.Root, "docker-config") });
        Directory.Delete(rootfs, true);
        Assert.True(bc == 0, berr);
        var (code, stdout, stderr) = await d.Docker("run", "--rm", "dockbox:v1", "sh", "-c", "echo out; echo err >&2; exit 4");
        Assert.Equal(4, code);
        Assert.Equal("out\n", stdout);
        Assert.Equal("err\n", stderr);
        var (rmi, rmiOut, rmiErr) = await d.Docker("rmi", "dockbox:v1");
        Assert.True(rmi == 0, rmiErr);
        Assert.Contains("Untagged: dockbox:v1", rmiOut);
        Assert.Contains("Deleted: sha256:", rmiOut);
    }

    [Fact]
    public async Task Docker_run_d_logs_f_stop_ps_inspect_rm()
    {
        d.Require();
        var (code, id, stderr) = await d.Docker("run", "-d", "--name", "dk", "busybox", "sh", "-c",
            "trap 'echo bye; exit 0' TERM; echo hi; while true; do sleep 0.1; done");
        Assert.True(code == 0, stderr);
        id = id.Trim();
        Assert.Matches("^[0-9a-f]{64}$", id);
        for (int i = 0; i < 50 && !(await d.Docker("logs", "dk")).Out.Contains("hi"); i++) await Task.Delay(100);
        var follow = d.Docker("logs", "-f", "dk");
        var (ps, psOut, _) = await d.Docker("ps");
        Assert.Equal(0, ps);
        Assert.Contains(id[..12], psOut);
        Assert.Contains("Up ", psOut);
        Assert.Equal(0, (await d.Docker("stop", "dk")).Code);
        Assert.Equal("hi\nbye\n", (await follow).Out);
        var (_, psa, _) = await d.Docker("ps", "-a", "--filter", "name=dk");
        Assert.Contains("Exited (0)", psa);
        var (_, inspect, _) = await d.Docker("inspect", "-f", "{{.Name}} {{.State.Status}} {{.Config.Image}}", "dk");
        Assert.Equal("/dk exited busybox", inspect.Trim());
        var (rm, rmOut, _) = await d.Docker("rm", "dk");
        Assert.Equal(0, rm);
        Assert.Equal("dk\n", rmOut);
    }

    [Fact]
    public async Task Docker_run_it_gives_an_interactive_shell_on_a_pty()
    {
        d.Require();
        if (!File.Exists("/usr/bin/script")) Assert.Skip("util-linux `script` is needed to give docker a terminal");
        // `script` runs docker on a pseudo-terminal and feeds it our input as typed keys.
        var cmd = $"'{Tools.DockerCli}' -H {d.Host} run -it --rm busybox sh";
        var (code, stdout, stderr) = await Tools.RunAsync("script", new[] { "-qec", cmd, "/dev/null" },
            stdin: "tty; echo marker-$((6*7)); exit 5\n",
            env: new() { ["DOCKER_CONFIG"] = Path.Combine(d.Root, "docker-config"), ["TERM"] = "xterm" });
        Assert.True(code == 5, $"exit {code}\n{stdout}\n{stderr}");
        // A terminal from the container's own devpts, as with Docker: busybox `tty` prints "not a tty" otherwise.
        Assert.DoesNotContain("not a tty", stdout);
        Assert.Contains("/dev/pts/0", stdout);
        Assert.Contains("marker-42", stdout);
    }
}
