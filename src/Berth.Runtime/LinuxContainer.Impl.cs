using Berth.Interop;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime;

public sealed partial class LinuxContainer
{
    readonly Spec spec;
    readonly string initPath, rootfs, bundle;
    // Null once init waits on a start socket instead (CreateOptions.StartSocket).
    readonly SyncChannel? channel;
    readonly string? startSocket;
    readonly ICgroupManager? cgroup;
    readonly object waitLock = new();
    SafeFileHandle? console;
    int? exitCode;
    bool started, destroyed;

    LinuxContainer(string id, int pid, Spec spec, string initPath, string rootfs, string bundle, SyncChannel? channel, string? startSocket, ICgroupManager? cgroup, SafeFileHandle? console)
    {
        this.startSocket = startSocket;
        this.console = console;
        Id = id;
        Pid = pid;
        this.spec = spec;
        this.initPath = initPath;
        this.rootfs = rootfs;
        this.bundle = bundle;
        this.channel = channel;
        this.cgroup = cgroup;
    }

    /// <summary>The container's cgroup, when the spec asked for one.</summary>
    public ICgroupManager? Cgroup => cgroup;

    public static LinuxContainer Create(CreateOptions o)
    {
        var spec = o.Spec ?? Spec.Load(Path.Combine(o.BundleDir, "config.json"));
        spec.Validate();
        SecurityModules.Check(spec);
        if (spec.Process is null) throw new RuntimeException("the spec has no process");
        if (spec.Root is null) throw new RuntimeException("the spec has no root");
        var bundle = Path.GetFullPath(o.BundleDir);
        var rootfs = Path.GetFullPath(spec.Root.Path, bundle);
        if (!Directory.Exists(rootfs)) throw new RuntimeException($"rootfs {rootfs} does not exist");
        var initPath = InitBinary(o.InitPath);

        ICgroupManager? cgroup = null;
        try
        {
            if (spec.Linux?.CgroupsPath is { Length: > 0 } cgroupsPath)
            {
                cgroup = CgroupManager.ForPath(cgroupsPath);
                cgroup.Create();
                cgroup.Apply(spec.Linux.Resources);
            }
            var config = new InitConfig { Spec = spec, Rootfs = rootfs, BundleDir = bundle, Id = o.Id, PreservedFds = o.PreserveFds };
            var (pid, channel, console) = Launch(initPath, spec.Linux?.Namespaces ?? [], o.Stdio, cgroup, config);
            try
            {
                if (console is not null && o.ConsoleSocket is not null)
                {
                    using (console) ConsoleSocket.Send(o.ConsoleSocket, console);
                    console = null;
                }
                if (o.StartSocket is not null)
                {
                    var listener = StartSocket.Listen(o.StartSocket);
                    try { channel.Send(new SyncMessage { Type = SyncMessage.Detach }, listener); }
                    finally { LibC.Close(listener); }
                    channel.Dispose();
                    channel = null;
                }
            }
            catch
            {
                LibC.Kill(pid, LibC.SIGKILL);
                ProcessControl.Reap(pid);
                channel?.Dispose();
                console?.Dispose();
                if (o.StartSocket is not null) File.Delete(o.StartSocket);
                throw;
            }
            return new LinuxContainer(o.Id, pid, spec, initPath, rootfs, bundle, channel, o.StartSocket, cgroup, console);
        }
        catch
        {
            cgroup?.Destroy();
            throw;
        }
    }

    static string InitBinary(string? path)
    {
        var initPath = path ?? Path.Combine(AppContext.BaseDirectory, "berth-runc");
        if (!File.Exists(initPath)) throw new RuntimeException($"init binary {initPath} not found");
        // A JIT build loads assemblies lazily from the host's disk, which init can no longer see after pivot_root.
        if (File.Exists(initPath + ".dll")) throw new RuntimeException($"init binary {initPath} is not NativeAOT-published; publish berth-runc with -r linux-x64");
        return initPath;
    }

    /// <summary>
    /// Spawns init in <paramref name="namespaces"/>, puts it in <paramref name="cgroup"/>, sends it
    /// <paramref name="config"/> and waits for ready. On failure init is killed and reaped.
    /// </summary>
    static (int Pid, SyncChannel Channel, SafeFileHandle? Console) Launch(string initPath, IReadOnlyList<LinuxNamespace> namespaces, ContainerStdio stdio, ICgroupManager? cgroup, InitConfig config)
    {
        var (mine, theirs) = LibC.SocketPair();
        var channel = new SyncChannel(mine);
        var pid = -1;
        SafeFileHandle? console = null;
        try
        {
            bool inCgroup;
            try { (pid, inCgroup) = NamespaceSpawner.Spawn(initPath, namespaces, stdio, theirs, config.PreservedFds, BornInCgroup(cgroup, config.Spec)); }
            finally { LibC.Close(theirs); }
            if (NamespaceSpawner.HasUserNamespace(namespaces)) pid = UserNamespaceStage.Complete(channel, pid, config.Spec.Linux);
            config = config with { HostPid = pid };
            // Config first: init sets up the rootfs while a cgroup write by pid, which may wait out an RCU grace
            // period (~10 ms), runs. Nothing of the user's runs before AddProcess returns: init execs only on
            // Start, and the createRuntime hooks below run after it.
            channel.Send(new SyncMessage { Type = SyncMessage.Config, InitConfig = config });
            if (!inCgroup) cgroup?.AddProcess(pid);
            var reply = channel.Receive();
            if (reply?.Type == SyncMessage.Hooks)
            {
                var state = config.HookState("creating");
                HookRunner.Run("prestart", config.Spec.Hooks?.Prestart, state);
                HookRunner.Run("createRuntime", config.Spec.Hooks?.CreateRuntime, state);
                channel.Send(new SyncMessage { Type = SyncMessage.Resume });
                reply = channel.Receive();
            }
            if (reply?.Type == SyncMessage.Console)
            {
                console = new SafeFileHandle(channel.TakeFd(), ownsHandle: true);
                reply = channel.Receive();
            }
            if (reply?.Type == SyncMessage.Ready) return (pid, channel, console);
            throw new RuntimeException(reply?.Type == SyncMessage.Error
                ? reply.Message ?? "init failed"
                : $"init exited before it was ready ({Describe(ProcessControl.Reap(pid))})");
        }
        catch
        {
            if (pid > 0 && LibC.WaitPid(pid, out _, LibC.WNOHANG) == 0) { LibC.Kill(pid, LibC.SIGKILL); ProcessControl.Reap(pid); }
            console?.Dispose();
            channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// How init gets into the cgroup without a move by pid: the spawning thread joins it first, so init is
    /// born inside, unless init's own start-up could trip the limits (it is charged to the container
    /// from its first page and thread, where a process moved in later brings only what it does next):
    /// with a pids limit, or a memory limit below <see cref="BornInsideMinMemory"/>.
    /// </summary>
    static Func<bool>? BornInCgroup(ICgroupManager? cgroup, Spec spec)
    {
        var resources = spec.Linux?.Resources;
        if (cgroup is null || resources?.Pids is { Limit: > 0 }) return null;
        if (resources?.Memory?.Limit is > 0 and < BornInsideMinMemory) return null;
        return cgroup.JoinAsThread;
    }

    const long BornInsideMinMemory = 64L << 20;

    /// <summary>
    /// Tells a waiting init to exec; returns when it has, throws with init's message if exec failed
    /// (after <paramref name="onFailedExit"/>, which reaps init when this process is its parent).
    /// </summary>
    static void Go(SyncChannel channel, Action? onFailedExit)
    {
        string? failure;
        using (channel)
        {
            channel.Send(new SyncMessage { Type = SyncMessage.Start });
            failure = channel.Receive() is { } reply ? reply.Message ?? "exec failed" : null;
        }
        if (failure is null) return;
        onFailedExit?.Invoke();
        throw new RuntimeException(failure);
    }

    /// <summary>
    /// Starts a container that another process created with <see cref="CreateOptions.StartSocket"/>;
    /// returns once its process has exec'd. Poststart hooks are the caller's.
    /// </summary>
    public static void Start(string startSocketPath)
    {
        int fd;
        try { fd = StartSocket.Connect(startSocketPath); }
        catch (SysException e) { throw new RuntimeException($"container is not waiting to be started ({e.Message})", e); }
        Go(new SyncChannel(fd), null);
        File.Delete(startSocketPath);
    }

    /// <summary>
    /// With <c>process.terminal</c> and no <see cref="CreateOptions.ConsoleSocket"/>: the master of the
    /// pty init made inside the container. The caller takes ownership; later calls return null.
    /// </summary>
    public SafeFileHandle? TakeConsole() => Interlocked.Exchange(ref console, null);

    public void Start()
    {
        if (started) throw new RuntimeException($"container {Id} was already started");
        started = true;
        void Reap() { lock (waitLock) exitCode = ProcessControl.Reap(Pid); }
        if (channel is not null) Go(channel, Reap);
        else
        {
            Go(new SyncChannel(StartSocket.Connect(startSocket!)), Reap);
            File.Delete(startSocket!);
        }
        HookRunner.RunLoggingFailures("poststart", spec.Hooks?.Poststart, State("running"));
    }

    /// <summary>
    /// Runs another process in this running container (docker exec): it joins the container's
    /// namespaces and cgroup and gets <paramref name="process"/>'s user, capabilities, rlimits,
    /// cwd and environment. Returns once the process has exec'd.
    /// </summary>
    public ExecProcess Exec(Oci.Process process, ContainerStdio stdio) =>
        Exec(Id, Pid, spec, rootfs, bundle, initPath, cgroup, process, stdio, null, 0);

    /// <summary>
    /// <see cref="Exec(Oci.Process, ContainerStdio)"/> for a container this process did not create
    /// (berth-runc exec): the container is described by its state, and its cgroup found from the spec.
    /// </summary>
    public static ExecProcess ExecIn(ExecOptions o)
    {
        var rootfs = Path.GetFullPath(o.Spec.Root?.Path ?? "rootfs", o.BundleDir);
        var cgroup = o.Spec.Linux?.CgroupsPath is { Length: > 0 } path ? CgroupManager.ForPath(path) : null;
        return Exec(o.Id, o.Pid, o.Spec, rootfs, o.BundleDir, InitBinary(o.InitPath), cgroup, o.Process, o.Stdio, o.ConsoleSocket, o.PreserveFds);
    }

    static ExecProcess Exec(string id, int containerPid, Spec spec, string rootfs, string bundle, string initPath, ICgroupManager? cgroup,
        Oci.Process process, ContainerStdio stdio, string? consoleSocket, int preserveFds)
    {
        var execSpec = Spec.Parse(spec.ToJson(), $"container {id}");
        execSpec.Process = process;
        execSpec.Validate($"exec in {id}");
        SecurityModules.Check(execSpec);
        var joined = (spec.Linux?.Namespaces ?? [])
            .Select(n => new LinuxNamespace { Type = n.Type, Path = n.Path ?? $"/proc/{containerPid}/ns/{ProcNsName(n.Type)}" }).ToList();
        execSpec.Linux ??= new Linux();
        execSpec.Linux.Namespaces = joined;
        var config = new InitConfig
        {
            Spec = execSpec, Rootfs = rootfs, BundleDir = bundle, IsExec = true, PreservedFds = preserveFds,
            MountNamespace = joined.FirstOrDefault(n => n.Type == "mount")?.Path,
        };
        // Init joins the mount namespace itself: the host's berth-runc binary must still be visible to posix_spawn.
        var (pid, execChannel, console) = Launch(initPath, joined.Where(n => n.Type != "mount").ToList(), stdio, cgroup, config);
        var exec = new ExecProcess(pid, console);
        try
        {
            if (consoleSocket is not null && exec.TakeConsole() is { } master)
                using (master) ConsoleSocket.Send(consoleSocket, master);
        }
        catch
        {
            execChannel.Dispose();
            LibC.Kill(pid, LibC.SIGKILL);
            exec.WaitForExit();
            throw;
        }
        Go(execChannel, () => exec.SetExited(ProcessControl.Reap(pid)));
        return exec;
    }

    HookState State(string status) => new() { Id = Id, Status = status, Pid = Pid, Bundle = bundle, Annotations = spec.Annotations };

    static string ProcNsName(string type) => type switch { "mount" => "mnt", "network" => "net", _ => type };

    public int WaitForExit()
    {
        lock (waitLock)
        {
            exitCode ??= ProcessControl.Reap(Pid);
            return exitCode.Value;
        }
    }

    /// <summary>kill(2) on init; a no-op once it has been reaped, when the pid may already belong to another process.</summary>
    public void Signal(int signal)
    {
        if (exitCode is null) ProcessControl.Signal(Pid, signal);
    }

    public void Destroy()
    {
        if (destroyed) return;
        destroyed = true;
        channel?.Dispose();
        TakeConsole()?.Dispose();
        cgroup?.Destroy();
        HookRunner.RunLoggingFailures("poststop", spec.Hooks?.Poststop, State("stopped"));
    }

    public void Dispose()
    {
        lock (waitLock)
        {
            var status = 0;
            var rc = exitCode is null ? LibC.WaitPid(Pid, out status, LibC.WNOHANG) : -1;
            if (rc == 0 && !started)
            {
                // An init that never got "start" would wait forever; a started container is the caller's to stop.
                LibC.Kill(Pid, LibC.SIGKILL);
                exitCode = ProcessControl.Reap(Pid);
            }
            else if (rc == Pid) exitCode = LibC.ExitCodeOf(status);
        }
        Destroy();
    }

    static string Describe(int exitCode) => exitCode > 128 ? $"killed by signal {exitCode - 128}" : $"exit status {exitCode}";
}

/// <summary>A process started in a running container by <see cref="LinuxContainer.Exec"/>.</summary>
public sealed class ExecProcess
{
    readonly object waitLock = new();
    int? exitCode;

    SafeFileHandle? console;

    internal ExecProcess(int pid, SafeFileHandle? console)
    {
        Pid = pid;
        this.console = console;
    }

    /// <summary>Host pid of the process.</summary>
    public int Pid { get; }

    /// <summary>With <c>process.terminal</c>: the pty master; the caller takes ownership.</summary>
    public SafeFileHandle? TakeConsole() => Interlocked.Exchange(ref console, null);

    internal void SetExited(int code)
    {
        lock (waitLock) exitCode = code;
    }

    /// <summary>Blocks until the process exits; its exit code, or 128+signal.</summary>
    public int WaitForExit()
    {
        lock (waitLock)
        {
            exitCode ??= ProcessControl.Reap(Pid);
            return exitCode.Value;
        }
    }

    public void Signal(int signal)
    {
        if (exitCode is null) ProcessControl.Signal(Pid, signal);
    }
}

static class ProcessControl
{
    /// <summary>Waits for <paramref name="pid"/>; returns its exit code or 128+signal.</summary>
    public static int Reap(int pid)
    {
        while (true)
        {
            if (LibC.WaitPid(pid, out var status, 0) != -1) return LibC.ExitCodeOf(status);
            var e = SysException.FromLastError("waitpid", $"pid {pid}");
            if (e.Errno != Errno.EINTR) throw e;
        }
    }

    /// <summary>kill(2), where a process that is already gone is not an error.</summary>
    public static void Signal(int pid, int signal)
    {
        if (LibC.Kill(pid, signal) == -1)
        {
            var e = SysException.FromLastError("kill", $"pid {pid}");
            if (e.Errno != Errno.ESRCH) throw e;
        }
    }
}
