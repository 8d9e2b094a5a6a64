using System.Text;
using Berth.Runtime.Oci;
using Berth.Shim.Client;

namespace Berth.Shim.Tests;

/// <summary>
/// The real berth-shim running real containers from a busybox rootfs. Needs root, /bin/busybox and
/// NativeAOT builds of berth-shim and berth-runc: in BERTH_BIN_DIR, or in artifacts/pub at the repository
/// root (`dotnet publish src/Berth.Shim -c Release -r linux-x64 -o artifacts/pub`, same for src/Berth.Runc).
/// </summary>
public sealed class ShimIntegrationTests : IAsyncDisposable
{
    static readonly string[] Applets = ["sh", "echo", "cat", "sleep", "stty", "true"];
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    readonly DirectoryInfo _dir;
    readonly string _binDir;
    ShimHandle? _shim;

    string Bundle => Path.Combine(_dir.FullName, "bundle");
    string StateDir => Path.Combine(_dir.FullName, "state");
    string SocketPath => Path.Combine(_dir.FullName, "shim.sock");
    string LogPath => Path.Combine(_dir.FullName, "container-json.log");

    public ShimIntegrationTests()
    {
        if (Environment.UserName != "root") Assert.Skip("needs root to create namespaces and mounts");
        if (!File.Exists("/bin/busybox")) Assert.Skip("needs /bin/busybox (busybox-static) for the test rootfs");
        _binDir = FindBinaries() ?? SkipNoBinaries();
        // Only now: a constructor that skips is never disposed, so anything made earlier would leak.
        _dir = Directory.CreateTempSubdirectory("berth-shim-it-");
        var bin = Path.Combine(Bundle, "rootfs", "bin");
        Directory.CreateDirectory(bin);
        File.Copy("/bin/busybox", Path.Combine(bin, "busybox"));
        foreach (var applet in Applets) File.CreateSymbolicLink(Path.Combine(bin, applet), "busybox");
        foreach (var dir in new[] { "proc", "sys", "dev", "tmp" }) Directory.CreateDirectory(Path.Combine(Bundle, "rootfs", dir));
    }

    static string SkipNoBinaries()
    {
        Assert.Skip("NativeAOT berth-shim and berth-runc not found: set BERTH_BIN_DIR or publish both to artifacts/pub");
        return "";
    }

    static bool HasBoth(string dir) => File.Exists(Path.Combine(dir, "berth-shim")) && File.Exists(Path.Combine(dir, "berth-runc"));

    static string? FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("BERTH_BIN_DIR") is { Length: > 0 } fromEnv) return HasBoth(fromEnv) ? fromEnv : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Berth.slnx")))
                return HasBoth(Path.Combine(dir.FullName, "artifacts/pub")) ? Path.Combine(dir.FullName, "artifacts/pub") : null;
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        if (_shim is { } shim && !shim.Process.HasExited)
        {
            // A failed test may leave the container running: kill it so the shim exits and cleans up.
            try { await shim.Client.KillAsync(9, CancellationToken.None); } catch (ShimException) { }
            if (!shim.Process.WaitForExit(Timeout)) shim.Process.Kill();
        }
        _shim?.Process.Dispose();
        _dir.Delete(recursive: true);
    }

    async Task<ShimHandle> Launch(Spec spec, bool openStdin = true)
    {
        spec.Save(Path.Combine(Bundle, "config.json"));
        _shim = await ShimProcess.Launch(new ShimLaunchOptions
        {
            Id = "shim-test", BundleDir = Bundle, StateDir = StateDir, SocketPath = SocketPath, LogPath = LogPath,
            ShimPath = Path.Combine(_binDir, "berth-shim"), InitPath = Path.Combine(_binDir, "berth-runc"), OpenStdin = openStdin,
        }, Ct).WaitAsync(Timeout, Ct);
        return _shim;
    }

    /// <summary>After the container exits the shim must leave no process, mount or socket behind.</summary>
    async Task AssertCleanExit(ShimHandle shim)
    {
        await shim.Process.WaitForExitAsync(Ct).WaitAsync(Timeout, Ct);
        Assert.Equal(0, shim.Process.ExitCode);
        Assert.False(Directory.Exists($"/proc/{shim.InitPid}"), $"container init {shim.InitPid} still exists");
        Assert.False(File.Exists(SocketPath), "shim socket left behind");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(_dir.FullName));
    }

    static async Task<(string Stdout, string Stderr)> ReadDemuxed(Stream stream)
    {
        var (stdout, stderr) = (new MemoryStream(), new MemoryStream());
        await Api.StdStream.DemuxAsync(stream, stdout, stderr, Ct).WaitAsync(Timeout, Ct);
        return (Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    static async Task<string> ReadRaw(Stream stream)
    {
        var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, Ct).WaitAsync(Timeout, Ct);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Our children that are standby shims (berth-shim --standby).</summary>
    static List<int> StandbyChildren()
    {
        var mine = Environment.ProcessId.ToString();
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var ppid = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1];
                if (ppid == mine && File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("--standby")) found.Add(pid);
            }
            catch (IOException) { }
        }
        return found;
    }

    [Fact]
    public async Task Standby_shim_gets_its_arguments_from_the_launcher_and_is_replaced_after_use()
    {
        var launcher = new ShimLauncher(Path.Combine(_binDir, "berth-shim"));
        try
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (StandbyChildren().Count == 0 && DateTime.UtcNow < deadline) await Task.Delay(20, Ct);
            var standby = Assert.Single(StandbyChildren());

            DefaultSpec.Create(["echo", "from standby"]).Save(Path.Combine(Bundle, "config.json"));
            _shim = await launcher.LaunchAsync(new ShimLaunchOptions
            {
                Id = "shim-test", BundleDir = Bundle, StateDir = StateDir, SocketPath = SocketPath, LogPath = LogPath,
                InitPath = Path.Combine(_binDir, "berth-runc"), OpenStdin = false,
            }, Ct).WaitAsync(Timeout, Ct);
            Assert.Equal(standby, _shim.ShimPid);

            using var attach = await _shim.Client.AttachAsync(stdin: false, stdout: true, stderr: true, closeStdinOnEof: false, Ct);
            var waiting = _shim.Client.WaitAsync(Ct);
            await _shim.Client.StartAsync(Ct);
            Assert.Equal("from standby\n", (await ReadDemuxed(attach)).Stdout);
            Assert.Equal(0, (await waiting.WaitAsync(Timeout, Ct)).ExitCode);
            await AssertCleanExit(_shim);

            // A new standby takes the used one's place.
            while (StandbyChildren().Count == 0 && DateTime.UtcNow < deadline) await Task.Delay(20, Ct);
            Assert.NotEqual(standby, Assert.Single(StandbyChildren()));
        }
        finally
        {
            await launcher.DisposeAsync();
        }
        Assert.Empty(StandbyChildren());
    }

    [Fact]
    public async Task Attached_output_arrives_per_stream_and_exit_code_is_reported()
    {
        var shim = await Launch(DefaultSpec.Create(["sh", "-c", "echo hello; echo oops >&2; exit 3"]));
        Assert.Equal(ShimStatus.Created, (await shim.Client.StateAsync(Ct)).Status);
        Assert.Equal(shim.InitPid.ToString(), File.ReadAllText(Path.Combine(StateDir, "init.pid")));

        using var attach = await shim.Client.AttachAsync(stdin: false, stdout: true, stderr: true, closeStdinOnEof: false, Ct);
        var waiting = shim.Client.WaitAsync(Ct);
        await shim.Client.StartAsync(Ct);

        var (stdout, stderr) = await ReadDemuxed(attach);
        Assert.Equal("hello\n", stdout);
        Assert.Equal("oops\n", stderr);
        Assert.Equal(3, (await waiting.WaitAsync(Timeout, Ct)).ExitCode);
        await AssertCleanExit(shim);

        Assert.Equal(3, ExitInfo.TryRead(StateDir)?.ExitCode);
        var log = new List<LogEntry>();
        await foreach (var entry in JsonFileLogReader.ReadAsync(LogPath, new LogReadOptions(), Ct)) log.Add(entry);
        // stdout and stderr are separate pipes, so their relative order in the log is not defined.
        Assert.Equal([("stderr", "oops\n"), ("stdout", "hello\n")], log.Select(e => (e.Stream, e.Log)).Order());
    }

    [Fact]
    public async Task Stdin_reaches_the_container_and_half_close_ends_it()
    {
        var shim = await Launch(DefaultSpec.Create(["cat"]));
        using var attach = await shim.Client.AttachAsync(stdin: true, stdout: true, stderr: true, closeStdinOnEof: true, Ct);
        // Waits go in before start: once the container is gone the shim exits and only exit.json remains.
        var waiting = shim.Client.WaitAsync(Ct);
        await shim.Client.StartAsync(Ct);
        await attach.WriteAsync("through the pipe\n"u8.ToArray(), Ct);
        attach.CloseWrite();

        Assert.Equal(("through the pipe\n", ""), await ReadDemuxed(attach));
        Assert.Equal(0, (await waiting.WaitAsync(Timeout, Ct)).ExitCode);
        await AssertCleanExit(shim);
    }

    [Fact]
    public async Task Without_open_stdin_the_container_reads_eof()
    {
        var shim = await Launch(DefaultSpec.Create(["cat"]), openStdin: false);
        var waiting = shim.Client.WaitAsync(Ct);
        await shim.Client.StartAsync(Ct);
        Assert.Equal(0, (await waiting.WaitAsync(Timeout, Ct)).ExitCode);
        await AssertCleanExit(shim);
    }

    [Fact]
    public async Task Tty_container_gets_raw_terminal_stream_with_echo_and_size()
    {
        var shim = await Launch(DefaultSpec.Create(["sh", "-c", "read line; stty size; echo got:$line"], terminal: true));
        await shim.Client.ResizeAsync(30, 100, Ct);
        using var attach = await shim.Client.AttachAsync(stdin: true, stdout: true, stderr: true, closeStdinOnEof: false, Ct);
        var waiting = shim.Client.WaitAsync(Ct);
        await shim.Client.StartAsync(Ct);
        await attach.WriteAsync("ping\n"u8.ToArray(), Ct);

        var output = await ReadRaw(attach);
        // The terminal echoes the input, then the script's lines, with the tty's CRLF line endings.
        Assert.Contains("ping\r\n", output);
        Assert.Contains("30 100\r\n", output);
        Assert.Contains("got:ping\r\n", output);
        Assert.Equal(0, (await waiting.WaitAsync(Timeout, Ct)).ExitCode);
        await AssertCleanExit(shim);
    }

    [Fact]
    public async Task Kill_ends_the_container_with_137_and_later_waits_use_exit_json()
    {
        var shim = await Launch(DefaultSpec.Create(["sleep", "100"]));
        await shim.Client.StartAsync(Ct);
        Assert.Equal(ShimStatus.Running, (await shim.Client.StateAsync(Ct)).Status);
        var waiting = shim.Client.WaitAsync(Ct);
        await shim.Client.KillAsync(9, Ct);

        var info = await waiting.WaitAsync(Timeout, Ct);
        Assert.Equal(137, info.ExitCode);
        Assert.False(info.OomKilled);
        await AssertCleanExit(shim);

        await Assert.ThrowsAsync<ShimUnavailableException>(() => shim.Client.WaitAsync(Ct));
        Assert.Equal(137, ExitInfo.TryRead(StateDir)?.ExitCode);
    }

    [Fact]
    public async Task Shim_outlives_its_launcher_and_serves_a_fresh_client()
    {
        var shim = await Launch(DefaultSpec.Create(["sh", "-c", "echo after-restart"]));
        // What a daemon restart looks like to the shim: the status pipe is gone, and a new client knows only the socket.
        shim.Process.StandardOutput.Dispose();
        var client = new ShimClient(SocketPath);
        var waiting = client.WaitAsync(Ct);
        await client.StartAsync(Ct);
        Assert.Equal(0, (await waiting.WaitAsync(Timeout, Ct)).ExitCode);
        await AssertCleanExit(shim);

        var log = new List<string>();
        await foreach (var entry in JsonFileLogReader.ReadAsync(LogPath, new LogReadOptions(), Ct)) log.Add(entry.Log);
        Assert.Equal(["after-restart\n"], log);
        Assert.Contains("container exited with 0", File.ReadAllText(Path.Combine(StateDir, "shim.log")));
    }

    [Fact]
    public async Task Failed_create_reports_error_and_leaves_nothing_behind()
    {
        var spec = DefaultSpec.Create(["true"], rootPath: "no-such-rootfs");
        var e = await Assert.ThrowsAsync<ShimException>(() => Launch(spec));
        Assert.Contains("no-such-rootfs", e.Message);
        Assert.False(File.Exists(SocketPath));
        Assert.False(File.Exists(LogPath));
        Assert.False(File.Exists(Path.Combine(StateDir, "shim.pid")));
        Assert.False(File.Exists(Path.Combine(StateDir, "init.pid")));
    }
}
