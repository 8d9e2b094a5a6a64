using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>docker-py 5 (Debian's python3-docker) against berthd: version negotiation, run, logs, stop.</summary>
public sealed class DockerPyTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task Docker_py_runs_lists_stops_and_reads_logs()
    {
        d.Require();
        var (probe, _, _) = await Tools.RunAsync("python3", new[] { "-c", "import docker" });
        if (probe != 0) Assert.Skip("docker-py is not installed (Debian package python3-docker)");
        var script = $$"""
            import docker
            c = docker.DockerClient(base_url="{{d.Host}}")
            assert c.version()["ApiVersion"] == "1.43"
            print(c.containers.run("busybox", "echo hi-from-py", remove=True).decode(), end="")
            ct = c.containers.run("busybox", ["sh", "-c", "echo x; sleep 30"], detach=True, name="pyc")
            assert "pyc" in [x.name for x in c.containers.list()]
            ct.stop(timeout=1)
            ct.reload()
            print(ct.status, ct.attrs["State"]["ExitCode"])
            print(ct.logs().decode(), end="")
            ct.remove()
            try:
                c.containers.get("pyc")
            except docker.errors.NotFound:
                print("gone")
            """;
        var (code, stdout, stderr) = await Tools.RunAsync("python3", new[] { "-c", script });
        Assert.True(code == 0, stderr);
        Assert.Equal("hi-from-py\nexited 137\nx\ngone\n", stdout);
    }
}
