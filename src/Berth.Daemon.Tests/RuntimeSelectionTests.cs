using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// HostConfig.Runtime through berthd: "runc" is registered by default (as in dockerd), and
/// berth-shim then drives Debian's runc CLI (create, start, delete) instead of Berth's runtime library.
/// </summary>
public sealed class RuntimeSelectionTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task Docker_run_runtime_runc_runs_the_container_under_debians_runc()
    {
        d.Require();
        if (!File.Exists("/usr/sbin/runc")) Assert.Skip("needs Debian's runc (/usr/sbin/runc)");

        var (code, output, err) = await d.Docker("run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo pid $$; echo err >&2; exit 3");
        Assert.True(code == 3, err);
        Assert.Equal("pid 1\n", output);
        Assert.Equal("err\n", err);

        (code, var id, err) = await d.Docker("run", "-d", "--runtime", "runc", "busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done");
        Assert.True(code == 0, err);
        id = id.Trim();
        Assert.Equal("runc running", (await d.Docker("inspect", "-f", "{{.HostConfig.Runtime}} {{.State.Status}}", id)).Out.Trim());
        // runc's own state directory for it exists under the shim's state dir: runc, not berth-runc, made it.
        Assert.Contains(Directory.GetDirectories(d.ExecRoot, id, SearchOption.AllDirectories),
            dir => Path.GetFileName(Path.GetDirectoryName(dir)) == "runtime" && File.Exists(Path.Combine(dir, "state.json")));
        Assert.Equal(0, (await d.Docker("stop", id)).Code);
        Assert.Equal("exited 0", (await d.Docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id)).Out.Trim());
        Assert.Equal(0, (await d.Docker("rm", id)).Code);

        (code, _, err) = await d.Docker("run", "--rm", "--runtime", "no-such-runtime", "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("unknown or invalid runtime name: no-such-runtime", err);
    }
}
