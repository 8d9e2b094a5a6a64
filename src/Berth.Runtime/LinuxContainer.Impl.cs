using Berth.Interop;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;

namespace Berth.Runtime;

public sealed partial class LinuxContainer
{
    readonly SyncChannel channel;
    readonly ICgroupManager? cgroup;
    readonly object waitLock = new();
    int? exitCode;
    bool started, destroyed;

    LinuxContainer(string id, int pid, SyncChannel channel, ICgroupManager? cgroup)
    {
        Id = id;
        Pid = pid;
        this.channel = channel;
        this.cgroup = cgroup;
    }

    /// <summary>The container's cgroup, when the spec asked for one.</summary>
    public ICgroupManager? Cgroup => cgroup;

    public static LinuxContainer Create(CreateOptions o)
    {
        var spec = o.Spec ?? Spec.Load(Path.Combine(o.BundleDir, "config.json"));
        spec.Validate();
        if (spec.Process is null) throw new RuntimeException("the spec has no process");
        if (spec.Root is null) throw new RuntimeException("the spec has no root");
        var bundle = Path.GetFullPath(o.BundleDir);
        var rootfs = Path.GetFullPath(spec.Root.Path, bundle);
        if (!Directory.Exists(rootfs)) throw new RuntimeException($"rootfs {rootfs} does not exist");
        var initPath = o.InitPath ?? Path.Combine(AppContext.BaseDirectory, "berth-runc");
        if (!File.Exists(initPath)) throw new RuntimeException($"init binary {initPath} not found");
        // A JIT build loads assemblies lazily from the host's disk, which init can no longer see after pivot_root.
        if (File.Exists(initPath + ".dll")) throw new RuntimeException($"init binary {initPath} is not NativeAOT-published; publish berth-runc with -r linux-x64");

        ICgroupManager? cgroup = null;
        SyncChannel? channel = null;
        var pid = -1;
        try
        {
            if (spec.Linux?.CgroupsPath is { Length: > 0 } cgroupsPath)
            {
                cgroup = CgroupManager.ForPath(cgroupsPath);
                cgroup.Create();
                cgroup.Apply(spec.Linux.Resources);
            }
            var (mine, theirs) = LibC.SocketPair();
            channel = new SyncChannel(mine);
            try { pid = NamespaceSpawner.Spawn(initPath, spec.Linux?.Namespaces ?? [], o.Stdio, theirs); }
            finally { LibC.Close(theirs); }
            cgroup?.AddProcess(pid);
            channel.Send(new SyncMessage { Type = SyncMessage.Config, InitConfig = new InitConfig { Spec = spec, Rootfs = rootfs, BundleDir = bundle } });
            var reply = channel.Receive();
            if (reply?.Type == SyncMessage.Ready) return new LinuxContainer(o.Id, pid, channel, cgroup);
            throw new RuntimeException(reply?.Type == SyncMessage.Error
                ? reply.Message ?? "init failed"
                : $"init exited before it was ready ({Describe(Reap(pid))})");
        }
        catch
        {
            if (pid > 0 && LibC.WaitPid(pid, out _, LibC.WNOHANG) == 0) { LibC.Kill(pid, LibC.SIGKILL); Reap(pid); }
            channel?.Dispose();
            cgroup?.Destroy();
            throw;
        }
    }

    public void Start()
    {
        if (started) throw new RuntimeException($"container {Id} was already started");
        started = true;
        channel.Send(new SyncMessage { Type = SyncMessage.Start });
        var reply = channel.Receive();
        channel.Dispose();
        if (reply is null) return;
        lock (waitLock) exitCode ??= Reap(Pid);
        throw new RuntimeException(reply.Message ?? "exec failed");
    }

    public int WaitForExit()
    {
        lock (waitLock)
        {
            exitCode ??= Reap(Pid);
            return exitCode.Value;
        }
    }

    public void Signal(int signal)
    {
        if (LibC.Kill(Pid, signal) == -1)
        {
            var e = SysException.FromLastError("kill", $"pid {Pid}");
            if (e.Errno != Errno.ESRCH) throw e;
        }
    }

    public void Destroy()
    {
        if (destroyed) return;
        destroyed = true;
        channel.Dispose();
        cgroup?.Destroy();
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
                exitCode = Reap(Pid);
            }
            else if (rc == Pid) exitCode = LibC.ExitCodeOf(status);
        }
        Destroy();
    }

    /// <summary>Waits for <paramref name="pid"/>; returns its exit code or 128+signal.</summary>
    static int Reap(int pid)
    {
        while (true)
        {
            if (LibC.WaitPid(pid, out var status, 0) != -1) return LibC.ExitCodeOf(status);
            var e = SysException.FromLastError("waitpid", $"pid {pid}");
            if (e.Errno != Errno.EINTR) throw e;
        }
    }

    static string Describe(int exitCode) => exitCode > 128 ? $"killed by signal {exitCode - 128}" : $"exit status {exitCode}";
}
