using System.Diagnostics;

namespace Berth.Cli.Tests;

/// <summary>
/// A private dockerd (Debian's 20.10) in a temp dir with a busybox image imported from
/// /bin/busybox; stopped and unmounted on dispose.
/// </summary>
public sealed class PrivateDockerd : IAsyncLifetime
{
    public string? SkipReason { get; private set; }
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "berth-cli-e2e-" + Environment.ProcessId);
    public string Host => "unix://" + Path.Combine(Dir, "docker.sock");
    Process? _daemon;

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists("/usr/sbin/dockerd") || !File.Exists("/usr/local/bin/docker") || !File.Exists("/bin/busybox"))
        { SkipReason = "dockerd, the docker CLI or busybox is not installed"; return; }
        if (Environment.UserName != "root") { SkipReason = "a private dockerd needs root"; return; }
        Directory.CreateDirectory(Dir);
        var psi = new ProcessStartInfo("/usr/sbin/dockerd")
        {
            ArgumentList = { "--data-root", Dir + "/root", "--exec-root", Dir + "/exec", "-H", Host, "--pidfile", Dir + "/docker.pid",
                "--bridge", "none", "--iptables=false", "--ip-masq=false", "--containerd-namespace", "berthe2e", "--containerd-plugins-namespace", "berthe2ep" },
            RedirectStandardError = true, RedirectStandardOutput = true,
        };
        _daemon = Process.Start(psi)!;
        _daemon.BeginErrorReadLine();
        _daemon.BeginOutputReadLine();
        for (int i = 0; i < 100 && !File.Exists(Dir + "/docker.sock"); i++) await Task.Delay(200);
        if (Docker("version").Code != 0) { SkipReason = "private dockerd did not start"; return; }
        var root = Path.Combine(Dir, "rootfs");
        Directory.CreateDirectory(root + "/bin");
        File.Copy("/bin/busybox", root + "/bin/busybox");
        foreach (var app in new[] { "sh", "echo", "cat", "true", "sleep" }) File.CreateSymbolicLink(root + "/bin/" + app, "busybox");
        Run("/bin/sh", "-c", $"tar -C {root} -c . | /usr/local/bin/docker -H {Host} import - busybox");
    }

    public (int Code, string Out, string Err) Docker(params string[] args) => Run("/usr/local/bin/docker", new[] { "-H", Host }.Concat(args).ToArray());

    public (int Code, string Out, string Err) Berth(params string[] args) =>
        Run("dotnet", new[] { Path.Combine(AppContext.BaseDirectory, "berth.dll"), "-H", Host }.Concat(args).ToArray());

    public static (int Code, string Out, string Err) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public async ValueTask DisposeAsync()
    {
        if (_daemon is { HasExited: false })
        {
            Run("/usr/local/bin/docker", "-H", Host, "rm", "-f", "e2e-exit3", "e2e-keep");
            // SIGTERM lets dockerd stop its containerd and unmount; SIGKILL only if it hangs.
            Run("/bin/kill", "-TERM", _daemon.Id.ToString());
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try { await _daemon.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { _daemon.Kill(entireProcessTree: true); await _daemon.WaitForExitAsync(); }
        }
        _daemon?.Dispose();
        // dockerd leaves its overlay and exec-root mounts behind when killed; undo them deepest first.
        foreach (var line in File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')[1]).Where(m => m.StartsWith(Dir, StringComparison.Ordinal)).OrderByDescending(m => m.Length))
            Run("/bin/umount", "-l", line);
        if (Directory.Exists(Dir)) Directory.Delete(Dir, recursive: true);
    }
}

public sealed class DockerdEndToEndTests(PrivateDockerd d) : IClassFixture<PrivateDockerd>
{
    void SkipIfUnavailable()
    {
        if (d.SkipReason is { } reason) Assert.Skip(reason);
    }

    [Fact]
    public void Run_echo_with_rm_prints_like_docker()
    {
        SkipIfUnavailable();
        var b = d.Berth("run", "--rm", "busybox", "echo", "hi");
        var k = d.Docker("run", "--rm", "busybox", "echo", "hi");
        Assert.Equal((k.Code, k.Out), (b.Code, b.Out));
        Assert.Equal("hi\n", b.Out);
    }

    [Fact]
    public void Run_exit_code_propagates_and_inspect_and_listings_match_docker()
    {
        SkipIfUnavailable();
        var run = d.Berth("run", "--name", "e2e-exit3", "busybox", "sh", "-c", "exit 3");
        Assert.Equal(3, run.Code);
        var bi = d.Berth("inspect", "-f", "{{.State.ExitCode}}", "e2e-exit3");
        Assert.Equal(d.Docker("inspect", "-f", "{{.State.ExitCode}}", "e2e-exit3").Out, bi.Out);
        Assert.Equal("3\n", bi.Out);
        Assert.Equal(d.Docker("inspect", "e2e-exit3").Out, d.Berth("inspect", "e2e-exit3").Out);
        AssertSameAsDocker("ps", "-a");
        AssertSameAsDocker("images");
    }

    /// <summary>
    /// Relative times ("1 second ago") can tick between two runs, so docker runs before and after
    /// ours; CREATED and STATUS tick at different moments, so a few attempts are allowed.
    /// </summary>
    void AssertSameAsDocker(params string[] args)
    {
        string ours = "", after = "";
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var before = d.Docker(args).Out;
            ours = d.Berth(args).Out;
            after = d.Docker(args).Out;
            if (ours == before || ours == after) return;
            Thread.Sleep(300);
        }
        Assert.Fail($"berth:\n{ours}\ndocker:\n{after}");
    }

    [Fact]
    public void Missing_container_reports_daemon_error_and_exit_1()
    {
        SkipIfUnavailable();
        var b = d.Berth("rm", "e2e-nope");
        Assert.Equal(1, b.Code);
        Assert.Equal("Error response from daemon: No such container: e2e-nope\n", b.Err);
    }
}
