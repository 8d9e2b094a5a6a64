using System.Diagnostics;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// A private Debian dockerd: its own socket, data root, exec root, pidfile, containerd namespaces and cgroup
/// parent, with networking off (no bridge, no iptables) so it touches nothing another daemon uses. Dispose stops
/// it and removes everything it made.
/// </summary>
public sealed class PrivateDockerd : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/dockerd";
    readonly string _dir = Directory.CreateTempSubdirectory("berth-dockerd-").FullName;
    readonly string _name = "berth-it-" + Guid.NewGuid().ToString("N")[..8];
    Process? _process;

    public string Host => "unix://" + Path.Combine(_dir, "docker.sock");

    public static async Task<PrivateDockerd> StartAsync()
    {
        if (!File.Exists(Binary)) Assert.Skip($"{Binary} is not installed (Debian package docker.io)");
        var d = new PrivateDockerd();
        try { await d.RunAsync(); }
        catch
        {
            await d.DisposeAsync();
            throw;
        }
        return d;
    }

    async Task RunAsync()
    {
        File.WriteAllText(Path.Combine(_dir, "daemon.json"), "{}");
        var psi = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[]
        {
            "-H", Host, "--data-root", Path.Combine(_dir, "data"), "--exec-root", Path.Combine(_dir, "exec"),
            "--pidfile", Path.Combine(_dir, "dockerd.pid"), "--config-file", Path.Combine(_dir, "daemon.json"),
            "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            "--containerd-namespace", _name, "--containerd-plugins-namespace", _name + "-p", "--cgroup-parent", "/" + _name,
        })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        var log = new System.Text.StringBuilder();
        _process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"dockerd exited with {_process.ExitCode}: {log}");
            if ((await Docker("version", "--format", "{{.Server.Version}}")).Code == 0) return;
            await Task.Delay(200);
        }
        throw new TimeoutException("dockerd did not answer on its socket: " + log);
    }

    public Task<(int Code, string Out, string Err)> Docker(params string[] args)
    {
        if (!File.Exists(Tools.DockerCli)) Assert.Skip($"the real docker CLI is not installed at {Tools.DockerCli}");
        return Tools.RunAsync(Tools.DockerCli, new[] { "-H", Host }.Concat(args).ToArray(), null,
            new() { ["DOCKER_BUILDKIT"] = "0", ["DOCKER_CONFIG"] = Path.Combine(_dir, "docker-config") });
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            Tools.Kill(_process.Id, 15); // dockerd stops its own containerd on the way out
            if (!_process.WaitForExit(30_000))
            {
                _process.Kill(true);
                await _process.WaitForExitAsync();
            }
        }
        _process?.Dispose();
        Tools.UnmountUnder(_dir);
        foreach (var cg in Directory.Exists("/sys/fs/cgroup") ? Directory.EnumerateDirectories("/sys/fs/cgroup") : [])
            if (Directory.Exists(Path.Combine(cg, _name)))
                try { Directory.Delete(Path.Combine(cg, _name)); } catch (IOException) { }
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}

/// <summary>Issue 4's interop promise: images move between Berth and Docker through save/load and run on the other side.</summary>
public sealed class ImageInteropTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task An_image_saved_by_berthd_loads_into_dockerd_with_the_same_id_and_runs()
    {
        d.Require();
        await using var docker = await PrivateDockerd.StartAsync();
        var (rc, _, rerr) = await d.Docker("run", "--name", "interop-maker", "busybox", "sh", "-c", "echo from-berth > /greeting; rm /bin/yes");
        Assert.True(rc == 0, rerr);
        var (cc, id, cerr) = await d.Docker("commit", "-c", "CMD [\"cat\", \"/greeting\"]", "interop-maker", "berth-made:v1");
        Assert.True(cc == 0, cerr);
        await d.Docker("rm", "interop-maker");
        string archive = Path.Combine(d.Root, "berth-made.tar");
        Assert.Equal(0, (await d.Docker("save", "-o", archive, "berth-made:v1")).Code);

        var (lc, loaded, lerr) = await docker.Docker("load", "-i", archive);
        Assert.True(lc == 0, lerr);
        Assert.Contains("Loaded image: berth-made:v1", loaded);
        Assert.Equal(id.Trim() + "\n", (await docker.Docker("image", "inspect", "-f", "{{.Id}}", "berth-made:v1")).Out);
        var (run, output, runErr) = await docker.Docker("run", "--rm", "--network", "none", "berth-made:v1");
        Assert.True(run == 0, runErr);
        Assert.Equal("from-berth\n", output);
        var (yes, _, _) = await docker.Docker("run", "--rm", "--network", "none", "berth-made:v1", "test", "-e", "/bin/yes");
        Assert.Equal(1, yes); // the whiteout came across
        Assert.Equal(0, (await d.Docker("rmi", "berth-made:v1")).Code);
    }

    [Fact]
    public async Task An_image_saved_by_dockerd_loads_into_berthd_with_the_same_id_and_runs()
    {
        d.Require();
        await using var docker = await PrivateDockerd.StartAsync();
        // Docker gets busybox from Berth, then makes a layer of its own on top with an addition and a deletion.
        string busybox = Path.Combine(d.Root, "busybox-for-dockerd.tar");
        Assert.Equal(0, (await d.Docker("save", "-o", busybox, "busybox:latest")).Code);
        Assert.Equal(0, (await docker.Docker("load", "-i", busybox)).Code);
        var (rc, _, rerr) = await docker.Docker("run", "--name", "maker", "--network", "none", "busybox", "sh", "-c",
            "mkdir -p /data && echo from-docker > /data/greeting && chmod 4755 /data/greeting && rm /bin/yes");
        Assert.True(rc == 0, rerr);
        var (cc, id, cerr) = await docker.Docker("commit", "-c", "CMD [\"cat\", \"/data/greeting\"]", "maker", "docker-made:v1");
        Assert.True(cc == 0, cerr);
        string archive = Path.Combine(d.Root, "docker-made.tar");
        Assert.Equal(0, (await docker.Docker("save", "-o", archive, "docker-made:v1")).Code);

        var (lc, loaded, lerr) = await d.Docker("load", "-i", archive);
        Assert.True(lc == 0, lerr);
        Assert.Equal("Loaded image: docker-made:v1\n", loaded);
        Assert.Equal(id.Trim() + "\n", (await d.Docker("image", "inspect", "-f", "{{.Id}}", "docker-made:v1")).Out);
        var (run, output, runErr) = await d.Docker("run", "--rm", "docker-made:v1");
        Assert.True(run == 0, runErr);
        Assert.Equal("from-docker\n", output);
        var (_, mode, _) = await d.Docker("run", "--rm", "docker-made:v1", "sh", "-c", "stat -c %a /data/greeting; test -e /bin/yes || echo gone");
        Assert.Equal("4755\ngone\n", mode);
        Assert.Equal(0, (await d.Docker("rmi", "docker-made:v1")).Code);
    }
}
