using Berth.Interop;
using Berth.Runtime.Oci;

namespace Berth.Runtime;

/// <summary>
/// Starts the init stage inside new namespaces without forking the (multithreaded) .NET process:
/// a fresh thread unshares or joins the namespaces, which changes only that thread, then
/// posix_spawns init from it, so init inherits them; the thread then exits and is never reused.
/// See docs/runtime.md.
/// </summary>
public static class NamespaceSpawner
{
    /// <summary>The namespaces that init creates or joins itself, after the parent has put it in its cgroup.</summary>
    public const string DeferredToInit = "cgroup";

    public static int Spawn(string initPath, IReadOnlyList<LinuxNamespace> namespaces, ContainerStdio stdio, int syncFd, int preservedFds = 0)
    {
        foreach (var ns in namespaces)
        {
            if (ns.Type == "user") throw new RuntimeException("user namespaces are not supported yet (they need a single-threaded pre-main stage)");
        }

        var pid = 0;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { pid = SpawnOnThisThread(initPath, namespaces, stdio, syncFd, preservedFds); }
            catch (Exception e) { failure = e; }
        }, maxStackSize: 256 * 1024) { Name = "berth-ns-spawn", IsBackground = true };
        thread.Start();
        thread.Join();
        if (failure is not null) throw failure is RuntimeException ? failure : new RuntimeException(failure.Message, failure);
        return pid;
    }

    static int SpawnOnThisThread(string initPath, IReadOnlyList<LinuxNamespace> namespaces, ContainerStdio stdio, int syncFd, int preservedFds)
    {
        // setns into a mount namespace needs a caller whose fs_struct (root, cwd) isn't shared; the
        // thread's is shared with the rest of the process until it unshares CLONE_FS.
        if (namespaces.Any(n => n.Type == "mount" && n.Path is not null)) LibC.Check(LibC.Unshare(LibC.CLONE_FS), "unshare", "CLONE_FS");
        var unshareFlags = 0;
        foreach (var ns in namespaces)
        {
            if (ns.Type == DeferredToInit) continue;
            var flag = LinuxNamespace.Flags[ns.Type];
            if (ns.Path is null) { unshareFlags |= flag; continue; }
            var fd = LibC.Check(LibC.Open(ns.Path, LibC.O_RDONLY | LibC.O_CLOEXEC), "open", ns.Path);
            try { LibC.Check(LibC.Setns(fd, flag), "setns", ns.Path); }
            finally { LibC.Close(fd); }
        }
        if (unshareFlags != 0) LibC.Check(LibC.Unshare(unshareFlags), "unshare");
        // Preserved fds keep their numbers (3, 4, ...); the sync socket goes right after them.
        int[] fds = [stdio.Stdin, stdio.Stdout, stdio.Stderr, .. Enumerable.Range(3, preservedFds), syncFd];
        string[] argv = preservedFds == 0 ? ["berth-runc", "init"] : ["berth-runc", "init", (3 + preservedFds).ToString()];
        return PosixSpawn(initPath, argv, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], fds);
    }

    /// <summary>
    /// Spawns <paramref name="path"/> with exactly <paramref name="argv"/> (argv[0] included) and
    /// <paramref name="env"/>, <paramref name="childFds"/>[i] as its fd i (-1: /dev/null), a new
    /// session (so its whole group can be killed), and default signal state.
    /// </summary>
    public static unsafe int PosixSpawn(string path, string[] argv, string[] env, int[] childFds)
    {
        // Every source is first copied above the target range so that one dup2 can never
        // overwrite a source a later dup2 still needs (say stdout is the caller's fd 3).
        var sources = new List<int>();
        var devNull = -1;
        var actions = stackalloc byte[LibC.SpawnStructSize];
        var attr = stackalloc byte[LibC.SpawnStructSize];
        var sigs = stackalloc byte[LibC.SpawnStructSize];
        LibC.PosixSpawnFileActionsInit(actions);
        LibC.PosixSpawnAttrInit(attr);
        var args = LibC.AllocStringArray(argv);
        var envp = LibC.AllocStringArray(env);
        try
        {
            for (var target = 0; target < childFds.Length; target++)
            {
                var fd = childFds[target];
                if (fd < 0)
                {
                    if (devNull < 0) devNull = LibC.Check(LibC.Open("/dev/null", LibC.O_RDWR | LibC.O_CLOEXEC), "open", "/dev/null");
                    fd = devNull;
                }
                var copy = LibC.Check(LibC.Fcntl(fd, LibC.F_DUPFD_CLOEXEC, 64), "fcntl F_DUPFD_CLOEXEC", $"fd {fd}");
                sources.Add(copy);
                Ok(LibC.PosixSpawnFileActionsAddDup2(actions, copy, target), "posix_spawn_file_actions_adddup2");
            }
            LibC.SigEmptySet(sigs);
            Ok(LibC.PosixSpawnAttrSetSigMask(attr, sigs), "posix_spawnattr_setsigmask");
            LibC.SigFillSet(sigs);
            Ok(LibC.PosixSpawnAttrSetSigDefault(attr, sigs), "posix_spawnattr_setsigdefault");
            Ok(LibC.PosixSpawnAttrSetFlags(attr, LibC.POSIX_SPAWN_SETSID | LibC.POSIX_SPAWN_SETSIGMASK | LibC.POSIX_SPAWN_SETSIGDEF), "posix_spawnattr_setflags");
            var rc = LibC.PosixSpawn(out var pid, path, actions, attr, args, envp);
            if (rc != 0) throw new SysException("posix_spawn", path, rc);
            return pid;
        }
        finally
        {
            foreach (var fd in sources) LibC.Close(fd);
            if (devNull >= 0) LibC.Close(devNull);
            LibC.FreeStringArray(args);
            LibC.FreeStringArray(envp);
            LibC.PosixSpawnAttrDestroy(attr);
            LibC.PosixSpawnFileActionsDestroy(actions);
        }
    }

    // The posix_spawn family returns the error number instead of setting errno.
    static void Ok(int rc, string call)
    {
        if (rc != 0) throw new SysException(call, null, rc);
    }
}
