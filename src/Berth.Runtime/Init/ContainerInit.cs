using System.Text;
using Berth.Interop;
using Berth.Runtime.Oci;
using Berth.Runtime.Seccomp;

namespace Berth.Runtime.Init;

/// <summary>
/// `berth-runc init`: the stage that runs as pid 1 inside the container's namespaces. It gets its
/// config over fd 3, builds the container, reports ready (or the error), waits for start and execs
/// the user's process. Everything runs on the main thread because that is the thread that execs,
/// and per-thread state (capabilities, no_new_privs, the cgroup namespace) only carries over from it.
/// </summary>
public static class ContainerInit
{
    /// <summary><paramref name="args"/>: "init" and, when fds are preserved, the sync socket's fd number.</summary>
    public static int Run(string[] args)
    {
        // Until it execs, init is the host's berth-runc binary inside the container's pid namespace.
        // Not dumpable, its /proc/<pid>/exe, fd, mem and environ are closed to the container's
        // processes (they lack CAP_SYS_PTRACE), so none can reopen the runtime binary for writing
        // (CVE-2019-5736) or reach init's host fds. execve makes the user's process dumpable again.
        LibC.Prctl(LibC.PR_SET_DUMPABLE, 0, 0, 0, 0);
        var syncFd = args.Length > 1 && int.TryParse(args[1], out var n) ? n : SyncChannel.InitFd;
        SyncChannel channel;
        try { channel = new SyncChannel(syncFd); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"berth-runc init: fd {syncFd} is not the sync socket ({e.Message}); this command is run by the runtime, not by hand");
            return 1;
        }
        try
        {
            var config = channel.Receive()?.InitConfig ?? throw new RuntimeException("init: no config from the runtime");
            var (path, argv, env, seccompLast) = Prepare(config, channel);
            channel.Send(new SyncMessage { Type = SyncMessage.Ready });
            var next = channel.Receive();
            if (next?.Type == SyncMessage.Detach) (channel, next) = AwaitStarter(channel);
            if (next?.Type != SyncMessage.Start) return 1;
            if (!config.IsExec) HookRunner.Run("startContainer", config.Spec.Hooks?.StartContainer, config.HookState("created"));
            return Exec(channel, path, argv, env, seccompLast, 3 + config.PreservedFds);
        }
        catch (Exception e)
        {
            TrySend(channel, e is RuntimeException or SysException or SpecException or Json.JsonCodecException ? e.Message : e.ToString());
            return 1;
        }
        finally { channel.Dispose(); }
    }

    /// <summary>
    /// The creator handed over a listening socket and is going away (berth-runc create): wait for
    /// the process that starts the container to connect, and talk to it from now on.
    /// </summary>
    static (SyncChannel, SyncMessage?) AwaitStarter(SyncChannel creator)
    {
        var listener = creator.TakeFd();
        creator.Dispose();
        int connection;
        try { connection = StartSocket.Accept(listener); }
        finally { LibC.Close(listener); }
        var starter = new SyncChannel(connection);
        return (starter, starter.Receive());
    }

    /// <summary>Builds the container; returns what to exec and, with no_new_privs, the seccomp filter to load right before.</summary>
    static (string Path, List<string> Argv, List<string> Env, SeccompProgram? SeccompLast) Prepare(InitConfig config, SyncChannel channel)
    {
        var spec = config.Spec;
        var process = spec.Process ?? throw new RuntimeException("the spec has no process");
        // Compiled first, so that a bad profile fails before anything is mounted.
        var seccomp = spec.Linux?.Seccomp is { } profile ? SeccompCompiler.Compile(profile) : null;
        JoinCgroupNamespace(spec);
        if (config.IsExec) JoinMountNamespace(config.MountNamespace);
        else RootfsSetup.Prepare(config, () => RunCreateHooks(config, channel));
        if (process.Terminal) CreateConsole(channel, process, bindDevConsole: !config.IsExec);
        if (!config.IsExec)
        {
            foreach (var (key, value) in spec.Linux?.Sysctl ?? [])
                File.WriteAllText("/proc/sys/" + key.Replace('.', '/'), value);
            if (Has(spec, "uts"))
            {
                if (spec.Hostname is { Length: > 0 } host) SetName(host, LibC.SetHostname, "sethostname");
                if (spec.Domainname is { Length: > 0 } domain) SetName(domain, LibC.SetDomainname, "setdomainname");
            }
            RootfsSetup.Finish(spec);
            Directory.CreateDirectory(PathResolver.InRoot(process.Cwd));
        }
        foreach (var r in process.Rlimits ?? []) SetRlimit(r);
        if (process.OomScoreAdj is { } adj) SetOomScoreAdj(adj);

        // Without no_new_privs loading a filter needs CAP_SYS_ADMIN, which switching user may drop: load it
        // now, as runc does; the rest of init then runs under it. With no_new_privs it waits until just before execve.
        if (seccomp is not null && !process.NoNewPrivileges) LoadSeccomp(seccomp);
        Credentials.Apply(process);
        PathResolver.EnterWorkingDirectory(process.Cwd);
        var env = process.Env ?? [];
        var path = PathResolver.LookPath(process.Args[0], env);
        LibC.umask(process.User.Umask ?? 0x12 /* 022, as runc */);
        return (path, process.Args, env, process.NoNewPrivileges ? seccomp : null);
    }

    /// <summary>
    /// Before pivot_root: the parent runs prestart and createRuntime hooks (runtime namespace) while
    /// init waits, then init runs createContainer hooks itself, in the container's namespaces.
    /// </summary>
    static void RunCreateHooks(InitConfig config, SyncChannel channel)
    {
        var hooks = config.Spec.Hooks;
        if (hooks is null) return;
        if (hooks.Prestart is { Count: > 0 } || hooks.CreateRuntime is { Count: > 0 })
        {
            channel.Send(new SyncMessage { Type = SyncMessage.Hooks });
            var reply = channel.Receive();
            if (reply?.Type != SyncMessage.Resume) throw new RuntimeException("init: the runtime did not resume after the createRuntime hooks");
        }
        HookRunner.Run("createContainer", hooks.CreateContainer, config.HookState("creating"));
    }

    static void LoadSeccomp(SeccompProgram program) =>
        LibC.Check(LibC.SeccompSetModeFilter(program.Flags, program.Instructions), "seccomp", "load filter");

    /// <summary>
    /// Opens a pty from the container's own /dev/ptmx, so the slave is a /dev/pts/N of the
    /// container's devpts, and makes it stdio, controlling terminal and /dev/console; the master
    /// goes to the runtime over the sync socket.
    /// </summary>
    static void CreateConsole(SyncChannel channel, Oci.Process process, bool bindDevConsole)
    {
        var (master, slave, slavePath) = Pty.Open();
        using (master)
        using (slave)
        {
            if (process.ConsoleSize is { Height: > 0, Width: > 0 } size) Pty.Resize(master, (ushort)size.Height, (ushort)size.Width);
            channel.Send(new SyncMessage { Type = SyncMessage.Console }, (int)master.DangerousGetHandle());
            if (bindDevConsole) RootfsSetup.BindConsole(slavePath);
            var fd = (int)slave.DangerousGetHandle();
            for (var target = 0; target < 3; target++) LibC.Check(LibC.Dup2(fd, target), "dup2", slavePath);
        }
        LibC.Check(LibC.Ioctl(0, LibC.TIOCSCTTY, 0), "ioctl TIOCSCTTY");
    }

    static bool Has(Spec spec, string ns) => spec.Linux?.Namespaces?.Any(n => n.Type == ns) == true;

    // Done here, not by the parent: the namespace's root is the creator's cgroup; init first makes sure it is in the container's.
    static void JoinCgroupNamespace(Spec spec)
    {
        var ns = spec.Linux?.Namespaces?.FirstOrDefault(n => n.Type == "cgroup");
        if (ns is null) return;
        if (ns.Path is null)
        {
            OwnCgroup.Paths(spec);
            LibC.Check(LibC.Unshare(LibC.CLONE_NEWCGROUP), "unshare", "cgroup namespace");
            return;
        }
        var fd = LibC.Check(LibC.Open(ns.Path, LibC.O_RDONLY | LibC.O_CLOEXEC), "open", ns.Path);
        try { LibC.Check(LibC.Setns(fd, LibC.CLONE_NEWCGROUP), "setns", ns.Path); }
        finally { LibC.Close(fd); }
    }

    /// <summary>
    /// Enters a running container's mount namespace (and with it, its root). setns refuses a
    /// thread whose root and cwd are shared with other threads, so this thread unshares them first.
    /// </summary>
    static void JoinMountNamespace(string? path)
    {
        if (path is null) return;
        var fd = LibC.Check(LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC), "open", path);
        try
        {
            LibC.Check(LibC.Unshare(LibC.CLONE_FS), "unshare", "CLONE_FS");
            LibC.Check(LibC.Setns(fd, LibC.CLONE_NEWNS), "setns", path);
        }
        finally { LibC.Close(fd); }
    }

    delegate int NameSetter(ReadOnlySpan<byte> name, nint length);

    static void SetName(string name, NameSetter set, string call)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        LibC.Check(set(bytes, bytes.Length), call, name);
    }

    static void SetRlimit(Rlimit r)
    {
        var resource = Rlimit.Resources[r.Type];
        var limit = new LibC.RLimit { Current = r.Soft, Max = r.Hard };
        if (LibC.Prlimit(0, resource, limit, out _) == 0) return;
        var e = SysException.FromLastError("setrlimit", r.Type);
        if (e.Errno == Errno.EPERM && LibC.GetRlimit(resource, out var current) == 0)
            throw new RuntimeException($"setrlimit {r.Type}: hard limit {r.Hard} is above the current hard limit {current.Max}, and raising it needs CAP_SYS_RESOURCE", e);
        throw e;
    }

    static void SetOomScoreAdj(int adj)
    {
        try { File.WriteAllText("/proc/self/oom_score_adj", adj.ToString()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var current = File.ReadAllText("/proc/self/oom_score_adj").Trim();
            throw new RuntimeException($"set oom_score_adj to {adj} (current {current}): {e.Message}; lowering it needs CAP_SYS_RESOURCE", e);
        }
    }

    static unsafe int Exec(SyncChannel channel, string path, List<string> argv, List<string> env, SeccompProgram? seccomp, int firstUnpreserved)
    {
        if (seccomp is not null) LoadSeccomp(seccomp);
        // Nothing of init's may leak into the user's process; the sync socket must close so the parent sees EOF.
        LibC.Check(LibC.CloseRange((uint)firstUnpreserved, uint.MaxValue, LibC.CLOSE_RANGE_CLOEXEC), "close_range");
        var args = LibC.AllocStringArray(argv);
        var envp = LibC.AllocStringArray(env);
        LibC.Execve(path, args, envp);
        var e = SysException.FromLastError("exec", $"\"{argv[0]}\"");
        TrySend(channel, e.Message);
        return 127;
    }

    static void TrySend(SyncChannel channel, string message)
    {
        try { channel.Send(new SyncMessage { Type = SyncMessage.Error, Message = message }); }
        catch (IOException) { Console.Error.WriteLine(message); }
    }
}
