using System.Net.Sockets;
using System.Text.RegularExpressions;
using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// Regression tests for known container escapes, through the berth-runc command line with real
/// namespaces. Each one sets up what the escape needs (a host directory fd in init, a magic link
/// as cwd, ...) so that it fails if the runtime regresses. CVE-2019-5736 (the runtime binary
/// through /proc/self/exe) is covered in ContainerTests.
/// </summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed partial class EscapeRegressionTests : IDisposable
{
    static readonly string[] Applets = ["sh", "ls", "pwd", "readlink", "sleep", "cat", "true"];
    const string HostSecret = "host-secret-file";

    readonly string runc;
    readonly DirectoryInfo bundle;
    readonly string root, hostDir;
    readonly string id = "esc" + Guid.NewGuid().ToString("N")[..10];

    public EscapeRegressionTests()
    {
        runc = TestRuntime.RequireRunc();
        bundle = TestRuntime.NewBundle(Applets);
        root = Path.Combine(bundle.FullName, "state");
        // A host directory outside the rootfs, with a file the container must never see.
        hostDir = Path.Combine(bundle.FullName, "host");
        Directory.CreateDirectory(hostDir);
        File.WriteAllText(Path.Combine(hostDir, HostSecret), "");
    }

    public void Dispose()
    {
        Sh($"$R delete -f {id}");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(bundle.FullName));
        bundle.Delete(recursive: true);
    }

    void WriteSpec(Action<Spec>? change, params string[] args)
    {
        var spec = DefaultSpec.Create(args);
        change?.Invoke(spec);
        spec.Save(Path.Combine(bundle.FullName, "config.json"));
    }

    (int Code, string Out, string Err) Sh(string script) =>
        TestRuntime.Bash(script, new Dictionary<string, string> { ["R"] = $"{runc} --root {root}", ["B"] = bundle.FullName, ["H"] = hostDir }, bundle.FullName);

    /// <summary>
    /// CVE-2024-21626: runc leaked a host directory fd into init, and a cwd of /proc/self/fd/N put
    /// the container's process in the host's filesystem. Here init is given a host directory as fd
    /// 3 on purpose (--preserve-fds); a cwd through it, directly or by a link in the image, must be
    /// refused or land inside the rootfs.
    /// </summary>
    [Theory]
    [InlineData("/proc/self/fd/3")]
    [InlineData("/link-to-fd")]
    public void Cwd_through_a_host_directory_fd_stays_in_the_container_CVE_2024_21626(string cwd)
    {
        File.CreateSymbolicLink(Path.Combine(bundle.FullName, "rootfs/link-to-fd"), "/proc/self/fd/3");
        WriteSpec(s => s.Process!.Cwd = cwd, "ls", "-a");
        var (code, output, err) = Sh($"$R run --preserve-fds 1 {id} 3<$H < /dev/null");
        Assert.DoesNotContain(HostSecret, output);
        if (code != 0) Assert.Contains("outside the container's root", err);
        else Assert.Equal(".\n..\n", output);
    }

    [Fact]
    public void Exec_cwd_through_a_host_directory_fd_stays_in_the_container_CVE_2024_21626()
    {
        WriteSpec(null, "sleep", "100");
        Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);
        var (code, output, err) = Sh($"$R exec --preserve-fds 1 --cwd /proc/self/fd/3 {id} ls -a 3<$H < /dev/null");
        Assert.DoesNotContain(HostSecret, output);
        if (code != 0) Assert.Contains("/proc/self/fd/3", err);
    }

    [Fact]
    public void Run_process_holds_only_stdio()
    {
        WriteSpec(null, "ls", "-l", "/proc/self/fd");
        var (code, output, err) = Sh($"$R run {id} < /dev/null");
        Assert.True(code == 0, err);
        Assert.Equal(["0", "1", "2"], Fds(output).Keys);
    }

    [Fact]
    public void Preserved_fds_are_the_only_extra_fds()
    {
        WriteSpec(null, "ls", "-l", "/proc/self/fd");
        var (code, output, err) = Sh($"$R run --preserve-fds 2 {id} 3</dev/null 4<$H < /dev/null");
        Assert.True(code == 0, err);
        Assert.Equal(["0", "1", "2", "3", "4"], Fds(output).Keys);
    }

    [Fact]
    public void Exec_process_holds_only_stdio()
    {
        WriteSpec(null, "sleep", "100");
        Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);
        var (code, output, err) = Sh($"$R exec {id} ls -l /proc/self/fd < /dev/null");
        Assert.True(code == 0, err);
        Assert.Equal(["0", "1", "2"], Fds(output).Keys);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Terminal_process_holds_only_its_pty_as_stdio(bool exec)
    {
        var socketPath = Path.Combine(bundle.FullName, "console.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        var master = Task.Run(() => ReceiveMaster(listener), TestContext.Current.CancellationToken);
        string script;
        if (exec)
        {
            WriteSpec(null, "sleep", "100");
            Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);
            script = $"$R exec -t -d --console-socket {socketPath} {id} ls -l /proc/self/fd < /dev/null";
        }
        else
        {
            WriteSpec(s => s.Process!.Terminal = true, "ls", "-l", "/proc/self/fd");
            script = $"$R create --console-socket {socketPath} {id} < /dev/null && $R start {id}";
        }
        var (code, _, err) = Sh(script);
        Assert.True(code == 0, err);
        using var pty = await master;
        var fds = Fds(ReadPty(pty));
        Assert.Equal(["0", "1", "2"], fds.Keys);
        Assert.All(fds.Values, target => Assert.Equal("/dev/pts/0", target));
    }

    /// <summary>
    /// After init has exec'd, nothing of the host is reachable from the container's processes: not
    /// through pid 1's or an exec'd process's cwd, root or fds. Every fd is the caller's stdio
    /// (/dev/null here) or a kernel object; a host file or directory would show its host path.
    /// </summary>
    [Fact]
    public void Container_processes_keep_no_handle_to_the_host_after_init()
    {
        WriteSpec(s => s.Process!.Cwd = "/tmp", "sleep", "100");
        Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);
        const string script = "for p in 1 self; do echo \"cwd $(readlink /proc/$p/cwd)\"; echo \"root $(readlink /proc/$p/root)\"; ls -l /proc/$p/fd; done";
        var (code, output, err) = Sh($"$R exec --cwd /bin {id} sh -c '{script}' < /dev/null");
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["cwd /tmp", "root /", "cwd /bin", "root /"], lines.Where(l => l.StartsWith("cwd ") || l.StartsWith("root ")));
        var fds = Fds(output);
        Assert.NotEmpty(fds);
        Assert.All(fds.Values, target => Assert.Matches(AllowedFdTarget(), target));
    }

    // The stdio the tests give (/dev/null, pipes) and kernel objects; never a path on the host.
    [GeneratedRegex(@"^(/dev/null|pipe:\[\d+\]|socket:\[\d+\]|anon_inode:.*)$")]
    private static partial Regex AllowedFdTarget();

    /// <summary>fd → target from `ls -l /proc/X/fd` output, without the directory ls itself opened to list.</summary>
    static SortedDictionary<string, string> Fds(string lsOutput)
    {
        var fds = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lsOutput.Split('\n').Select(l => l.TrimEnd('\r')))
        {
            var arrow = line.IndexOf(" -> ", StringComparison.Ordinal);
            if (arrow < 0) continue;
            var target = line[(arrow + 4)..];
            if (Regex.IsMatch(target, @"^/proc/\d+/fd$")) continue;
            fds[line[..arrow].Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]] = target;
        }
        return fds;
    }

    static Microsoft.Win32.SafeHandles.SafeFileHandle ReceiveMaster(Socket listener)
    {
        using var connection = listener.Accept();
        var fds = new List<int>();
        Assert.True(Berth.Interop.LibC.ReceiveWithFds((int)connection.Handle, new byte[64], fds) > 0);
        return new Microsoft.Win32.SafeHandles.SafeFileHandle(fds.Single(), ownsHandle: true);
    }

    /// <summary>Everything read from a pty master until the last slave closes (then reads fail with EIO).</summary>
    static string ReadPty(Microsoft.Win32.SafeHandles.SafeFileHandle master)
    {
        using var stream = new FileStream(master, FileAccess.Read, 1);
        var output = new MemoryStream();
        var buffer = new byte[256];
        try { for (int n; (n = stream.Read(buffer)) > 0;) output.Write(buffer, 0, n); }
        catch (IOException) { }
        return System.Text.Encoding.UTF8.GetString(output.ToArray());
    }
}
