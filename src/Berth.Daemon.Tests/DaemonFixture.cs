using System.Diagnostics;
using System.Net.Http;
using System.Net.Sockets;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// A real berthd on a private data root, exec root and socket, with a busybox image imported from
/// busybox-static. Tests that need it call <see cref="Require"/>, which skips with the reason when
/// the host can't run it (not root, binaries not built, no busybox).
/// </summary>
public class DaemonFixture : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("berth-it-").FullName;
    public string DataRoot => Path.Combine(Root, "data");
    public string ExecRoot => Path.Combine(Root, "exec");
    public string Socket => Path.Combine(Root, "berth.sock");
    public string Host => "unix://" + Socket;
    public string BinDir { get; } = Tools.BinDir;
    public string? SkipReason { get; private set; }
    Process? _daemon;
    readonly System.Text.StringBuilder _log = new();

    public async ValueTask InitializeAsync()
    {
        SkipReason = Tools.MissingPrerequisite();
        if (SkipReason is not null) return;
        await StartDaemonAsync();
        var rootfs = Path.Combine(Root, "busybox-rootfs");
        var (code, _, err) = await Tools.RunAsync("bash", new[] { "-c", $"'{Tools.RepoRoot}/scripts/busybox-rootfs' '{rootfs}' && tar -C '{rootfs}' --numeric-owner -c . | '{BinDir}/berth' -H {Host} import --change 'CMD [\"sh\"]' - busybox:latest" });
        Directory.Delete(rootfs, true);
        if (code != 0) throw new InvalidOperationException("importing busybox failed: " + err);
    }

    public async Task StartDaemonAsync(params string[] extra)
    {
        var psi = new ProcessStartInfo(Path.Combine(BinDir, "berthd"))
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var a in new[] { "-H", Host, "--data-root", DataRoot, "--exec-root", ExecRoot, "--pidfile", Path.Combine(Root, "berthd.pid") }.Concat(NetworkArgs).Concat(ExtraArgs).Concat(extra))
            psi.ArgumentList.Add(a);
        _daemon = Process.Start(psi)!;
        _daemon.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _daemon.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _daemon.BeginErrorReadLine();
        _daemon.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_daemon.HasExited) throw new InvalidOperationException($"berthd exited with {_daemon.ExitCode}: {DaemonLog}");
            try
            {
                using var c = Client();
                if ((await c.GetAsync("/_ping")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(50);
        }
        throw new TimeoutException("berthd did not answer on its socket: " + DaemonLog);
    }

    /// <summary>Networking off by default, so these tests never touch a bridge another daemon uses.</summary>
    protected virtual string[] NetworkArgs => ["--bridge", "none"];

    /// <summary>Further flags a fixture's daemon always runs with (every restart included).</summary>
    protected virtual string[] ExtraArgs => [];

    public string DaemonLog { get { lock (_log) return _log.ToString(); } }
    public Process Daemon => _daemon!;

    /// <summary>Kills berthd with SIGKILL, as a crash would; its shims and containers stay.</summary>
    public async Task CrashDaemonAsync()
    {
        _daemon!.Kill();
        await _daemon.WaitForExitAsync();
    }

    public async Task StopDaemonAsync()
    {
        if (_daemon is null || _daemon.HasExited) return;
        Tools.Kill(_daemon.Id, 15);
        if (!_daemon.WaitForExit(30_000)) { _daemon.Kill(); await _daemon.WaitForExitAsync(); }
    }

    public void Require()
    {
        if (SkipReason is not null) Assert.Skip(SkipReason);
    }

    /// <summary>An HttpClient speaking to this daemon's unix socket.</summary>
    public HttpClient Client()
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(Socket), ct);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://api.moby.localhost"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public Task<(int Code, string Out, string Err)> Berth(params string[] args) => BerthWithInput(null, args);

    public Task<(int Code, string Out, string Err)> BerthWithInput(string? stdin, params string[] args) =>
        Tools.RunAsync(Path.Combine(BinDir, "berth"), new[] { "-H", Host }.Concat(args).ToArray(), stdin);

    public Task<(int Code, string Out, string Err)> Docker(params string[] args)
    {
        if (!File.Exists(Tools.DockerCli)) Assert.Skip($"the real docker CLI is not installed at {Tools.DockerCli}");
        return Tools.RunAsync(Tools.DockerCli, new[] { "-H", Host }.Concat(args).ToArray(), null,
            new() { ["DOCKER_BUILDKIT"] = "0", ["DOCKER_CONFIG"] = Path.Combine(Root, "docker-config") });
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (SkipReason is null && _daemon is not null)
        {
            if (_daemon.HasExited) await StartDaemonAsync();
            var (_, ids, _) = await Berth("ps", "-aq");
            foreach (var id in ids.Split('\n', StringSplitOptions.RemoveEmptyEntries)) await Berth("rm", "-f", id);
            await StopDaemonAsync();
        }
        Tools.UnmountUnder(Root);
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
