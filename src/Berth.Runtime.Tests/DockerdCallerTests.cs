using System.Diagnostics;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// The proof that berth-runc is a drop-in for runc (issue 3, point 8): Debian's dockerd, on a
/// private socket, data root, exec root, containerd and cgroup parent, with berth-runc added as the
/// runtime "berth", is driven through the real docker CLI. dockerd talks to containerd, whose
/// containerd-shim-runc-v2 calls berth-runc exactly as it calls runc (create, start, state, exec,
/// kill, pause, resume, ps, delete, with --log json, pid files, console sockets and fifos for stdio).
/// </summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed class DockerdCallerTests : IDisposable
{
    const string Dockerd = "/usr/sbin/dockerd", Docker = "/usr/local/bin/docker";

    readonly string runc;
    readonly DirectoryInfo tmp;
    readonly string cgroupParent;
    Process? dockerd;

    public DockerdCallerTests()
    {
        runc = TestRuntime.RequireRunc();
        foreach (var tool in new[] { Dockerd, "/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", Docker, "/usr/bin/script" })
            if (!File.Exists(tool)) Assert.Skip($"needs {tool} (Debian's docker.io, containerd, the docker CLI and bsdutils' script)");
        // dockerd 20.10 would use a system containerd instead of starting its own, and so touch the host's.
        if (File.Exists("/run/containerd/containerd.sock")) Assert.Skip("a system containerd is running; this test only drives a private one");
        // Short: containerd puts unix sockets under the exec root, and sockaddr_un holds 107 bytes.
        tmp = Directory.CreateTempSubdirectory("bdk");
        cgroupParent = "/" + tmp.Name;
    }

    public void Dispose()
    {
        if (dockerd is not null)
        {
            Docker_("ps", "-aq").Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList().ForEach(id => Docker_("rm", "-f", id));
            var containerdPidFile = Path.Combine(tmp.FullName, "exec/containerd/containerd.pid");
            var containerd = File.Exists(containerdPidFile) && int.TryParse(File.ReadAllText(containerdPidFile).Trim(), out var c) ? c : 0;
            Berth.Interop.LibC.Kill(dockerd.Id, 15);
            if (!dockerd.WaitForExit(30_000)) { dockerd.Kill(); dockerd.WaitForExit(); }
            dockerd.Dispose();
            // dockerd stops the containerd it started; make sure, by its pid file.
            if (containerd > 0 && File.Exists($"/proc/{containerd}/stat"))
            {
                Berth.Interop.LibC.Kill(containerd, 15);
                for (var i = 0; i < 100 && File.Exists($"/proc/{containerd}/stat"); i++) Thread.Sleep(50);
            }
        }
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo").Reverse())
        {
            var mountPoint = line.Split(' ')[4];
            if (mountPoint.StartsWith(tmp.FullName + "/", StringComparison.Ordinal)) Run("umount", "-l", mountPoint);
        }
        foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup") : [])
        {
            var dir = hierarchy + cgroupParent;
            if (!Directory.Exists(dir)) continue;
            foreach (var child in Directory.GetDirectories(dir)) Directory.Delete(child);
            Directory.Delete(dir);
        }
        tmp.Delete(recursive: true);
    }

    static (int Code, string Out, string Err) Run(string file, params string[] args) => RunWith(file, args, null);

    static (int Code, string Out, string Err) RunWith(string file, string[] args, Dictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"timed out: {file} {string.Join(' ', args)}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    Dictionary<string, string> DockerEnv => new()
    {
        ["DOCKER_HOST"] = $"unix://{tmp.FullName}/d.sock", ["DOCKER_CONFIG"] = Path.Combine(tmp.FullName, "cfg"),
    };

    (int Code, string Out, string Err) Docker_(params string[] args) => RunWith(Docker, args, DockerEnv);

    string DockerOk(params string[] args)
    {
        var (code, output, err) = Docker_(args);
        Assert.True(code == 0, $"docker {string.Join(' ', args)}: exit {code}: {err}");
        return output;
    }

    void StartDockerd()
    {
        var t = tmp.FullName;
        File.WriteAllText(Path.Combine(t, "daemon.json"), "{\"runtimes\": {\"berth\": {\"path\": \"" + runc + "\"}}}");
        var psi = new ProcessStartInfo("bash") { RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec {Dockerd} -H unix://{t}/d.sock --data-root {t}/data --exec-root {t}/exec --pidfile {t}/dockerd.pid " +
            $"--config-file {t}/daemon.json --bridge none --iptables=false --ip6tables=false --ip-masq=false " +
            $"--containerd-namespace {tmp.Name} --containerd-plugins-namespace {tmp.Name}p --cgroup-parent {cgroupParent} " +
            $"--exec-opt native.cgroupdriver=cgroupfs > {t}/dockerd.log 2>&1");
        dockerd = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Docker_("version", "--format", "{{.Server.Version}}").Code != 0)
        {
            if (dockerd.HasExited || DateTime.UtcNow > deadline)
                Assert.Fail("dockerd did not come up: " + File.ReadAllText(Path.Combine(t, "dockerd.log")));
            Thread.Sleep(100);
        }
    }

    void ImportBusybox()
    {
        var rootfs = Path.Combine(tmp.FullName, "rootfs");
        var script = $"set -e; mkdir -p {rootfs}/bin {rootfs}/etc {rootfs}/tmp {rootfs}/proc {rootfs}/sys {rootfs}/dev; cp /bin/busybox {rootfs}/bin/; " +
            $"for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -sf busybox {rootfs}/bin/$a; done; " +
            $"tar -C {rootfs} --numeric-owner -c . | {Docker} import - busybox:latest";
        var (code, _, err) = RunWith("bash", ["-c", script], DockerEnv);
        Assert.True(code == 0, "import busybox: " + err);
    }

    [Fact]
    public void Debian_dockerd_drives_berth_runc_through_containerds_runc_shim()
    {
        StartDockerd();
        ImportBusybox();
        Assert.Contains("berth", DockerOk("info", "--format", "{{json .Runtimes}}"));

        // run --rm: create, start, wait, delete through the shim; stdout comes back over its fifos.
        Assert.Equal("hello from berth-runc\n", DockerOk("run", "--runtime", "berth", "--rm", "--network", "none", "busybox", "echo", "hello from berth-runc"));
        Assert.Equal(7, Docker_("run", "--runtime", "berth", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 7").Code);

        var id = DockerOk("run", "--runtime", "berth", "-d", "--network", "none", "--name", "bdk-d", "busybox",
            "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done").Trim();
        Assert.Equal("running", DockerOk("inspect", "-f", "{{.State.Status}}", id).Trim());

        // exec: the shim passes --process, --detach, --pid-file; the exit code comes back through it.
        Assert.Equal("in the container\n", DockerOk("exec", id, "sh", "-c", "echo in the container"));
        Assert.Equal(3, Docker_("exec", id, "sh", "-c", "exit 3").Code);
        // exec -it: a pty whose master reaches the shim through --console-socket.
        var (code, tty, err) = Run("script", "-qc", $"DOCKER_HOST=unix://{tmp.FullName}/d.sock {Docker} exec -it {id} sh -c 'tty; echo it-ok'", "/dev/null");
        Assert.True(code == 0, err);
        Assert.Contains("/dev/pts/", tty);
        Assert.Contains("it-ok", tty);

        // top: the shim's Pids calls berth-runc ps --format json.
        Assert.Contains("while true", DockerOk("top", id));

        DockerOk("pause", id);
        Assert.Equal("paused", DockerOk("inspect", "-f", "{{.State.Status}}", id).Trim());
        DockerOk("unpause", id);
        Assert.Equal("running", DockerOk("inspect", "-f", "{{.State.Status}}", id).Trim());

        var pids = DockerOk("stats", "--no-stream", "--format", "{{.PIDs}} {{.MemUsage}}", id).Trim().Split(' ')[0];
        Assert.True(int.Parse(pids) >= 1, $"stats reported {pids} pids");

        DockerOk("stop", "-t", "10", id);
        Assert.Equal("exited 0", DockerOk("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id).Trim());
        DockerOk("rm", id);
        // berth-runc's state (under dockerd's runc root) and the shim's bundle are gone with the container.
        Assert.Empty(Directory.GetDirectories(Path.Combine(tmp.FullName, "exec"), id, SearchOption.AllDirectories));
    }
}
