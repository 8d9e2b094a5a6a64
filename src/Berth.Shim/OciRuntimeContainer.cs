using System.Text.Json;
using Berth.Interop;
using Berth.Runtime;
using Berth.Runtime.Cgroups;
using Microsoft.Win32.SafeHandles;

namespace Berth.Shim;

/// <summary>
/// A container made by an external OCI runtime (berthd's --add-runtime, e.g. Debian's runc),
/// driven through its CLI the way containerd's shim drives runc: `create` with the container's
/// stdio as its fds 0-2, --pid-file and, for a terminal, --console-socket; then `start`, and
/// `delete --force` at the end. The shim is a child subreaper, so once `create` exits the
/// container's init becomes the shim's child, and the shim reaps it and keeps its exit status itself.
/// </summary>
public sealed class OciRuntimeContainer : IRuntimeContainer
{
    readonly string runtime, root, log, id;
    SafeFileHandle? console;
    int? exitCode;
    bool deleted;

    OciRuntimeContainer(string runtime, string root, string log, string id, int pid, SafeFileHandle? console, ICgroupManager? cgroup)
    {
        Cgroup = cgroup;
        this.runtime = runtime;
        this.root = root;
        this.log = log;
        this.id = id;
        this.console = console;
        Pid = pid;
    }

    public int Pid { get; }
    /// <summary>The cgroup the runtime made from the spec's cgroupsPath; read only (the runtime removes it on delete).</summary>
    public ICgroupManager? Cgroup { get; }

    public static OciRuntimeContainer Create(string runtime, string stateDir, string id, string bundle, ContainerStdio stdio, bool tty, string? cgroupsPath)
    {
        LibC.Check(LibC.Prctl(LibC.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl PR_SET_CHILD_SUBREAPER");
        var root = Path.Combine(stateDir, "runtime");
        var log = Path.Combine(stateDir, "runtime-log.json");
        var pidFile = Path.Combine(stateDir, "runtime-init.pid");
        var consolePath = Path.Combine(stateDir, "console.sock");
        var listener = tty ? StartSocket.Listen(consolePath) : -1;
        try
        {
            // The runtime connects and sends the pty master before create returns; accept on the side,
            // so a create that fails first can't leave us blocked in accept.
            var accepting = tty ? Task.Run(() => StartSocket.Accept(listener)) : null;
            List<string> args = ["--root", root, "--log", log, "--log-format", "json", "create", "--bundle", bundle, "--pid-file", pidFile];
            if (tty) args.AddRange(["--console-socket", consolePath]);
            args.Add(id);
            Run(runtime, log, "create", args, stdio);
            SafeFileHandle? master = null;
            if (accepting is not null)
            {
                if (!accepting.Wait(TimeSpan.FromSeconds(10))) throw new RuntimeException($"{runtime} create: no console arrived on {consolePath}");
                master = ReceiveConsole(accepting.Result);
            }
            var pid = int.Parse(File.ReadAllText(pidFile).Trim());
            return new OciRuntimeContainer(runtime, root, log, id, pid, master, cgroupsPath is { Length: > 0 } ? CgroupManager.ForPath(cgroupsPath) : null);
        }
        finally
        {
            if (listener >= 0)
            {
                LibC.Close(listener);
                File.Delete(consolePath);
            }
        }
    }

    static SafeFileHandle ReceiveConsole(int connection)
    {
        try
        {
            var fds = new List<int>();
            Span<byte> name = stackalloc byte[256];
            if (LibC.ReceiveWithFds(connection, name, fds) < 0) throw SysException.FromLastError("recvmsg", "console socket");
            if (fds.Count == 0) throw new RuntimeException("the runtime sent no pty master on the console socket");
            foreach (var extra in fds.Skip(1)) LibC.Close(extra);
            return new SafeFileHandle(fds[0], ownsHandle: true);
        }
        finally { LibC.Close(connection); }
    }

    /// <summary>Runs one runtime command to completion; a failure carries the runtime's last logged error.</summary>
    static void Run(string runtime, string log, string command, List<string> args, ContainerStdio stdio)
    {
        var pid = NamespaceSpawner.PosixSpawn(runtime, [runtime, .. args], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            [stdio.Stdin, stdio.Stdout, stdio.Stderr]);
        var code = Reap(pid);
        if (code != 0) throw new RuntimeException($"{Path.GetFileName(runtime)} {command}: {LastError(log) ?? $"exit status {code}"}");
    }

    /// <summary>The msg of the last error line of the runtime's JSON log, which is where runc explains a failure.</summary>
    static string? LastError(string log)
    {
        if (!File.Exists(log)) return null;
        foreach (var line in File.ReadLines(log).Reverse())
        {
            try
            {
                var e = JsonDocument.Parse(line).RootElement;
                if (e.TryGetProperty("level", out var level) && level.GetString() == "error") return e.GetProperty("msg").GetString();
            }
            catch (JsonException) { }
        }
        return null;
    }

    static int Reap(int pid)
    {
        while (true)
        {
            if (LibC.WaitPid(pid, out var status, 0) != -1) return LibC.ExitCodeOf(status);
            var e = SysException.FromLastError("waitpid", $"pid {pid}");
            if (e.Errno != Errno.EINTR) throw e;
        }
    }

    void Command(string command, params string[] args) =>
        Run(runtime, log, command, ["--root", root, "--log", log, "--log-format", "json", command, .. args], new ContainerStdio(-1, -1, -1));

    public void Start() => Command("start", id);

    public void Signal(int signal)
    {
        // Until it is reaped, the pid is the container's init (the shim is its parent), so kill(2) is safe.
        if (exitCode is not null || LibC.Kill(Pid, signal) == 0) return;
        var e = SysException.FromLastError("kill", $"pid {Pid}");
        if (e.Errno != Errno.ESRCH) throw e;
    }

    public int WaitForExit() => exitCode ??= Reap(Pid);

    public SafeFileHandle? TakeConsole() => Interlocked.Exchange(ref console, null);

    public void Dispose()
    {
        if (deleted) return;
        deleted = true;
        TakeConsole()?.Dispose();
        Command("delete", "--force", id);
        if (exitCode is null && LibC.WaitPid(Pid, out var status, LibC.WNOHANG) == Pid) exitCode = LibC.ExitCodeOf(status);
    }
}
