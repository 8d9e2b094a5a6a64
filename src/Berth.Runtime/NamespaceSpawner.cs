using Berth.Interop;
using Berth.Runtime.Oci;

namespace Berth.Runtime;

/// <summary>
/// Starts the init stage inside new namespaces without forking the (multithreaded) .NET process:
/// a fresh thread unshares or joins the namespaces, which changes only that thread, then
/// posix_spawns init from it, so init inherits them (and, when it joined one, the container's cgroup);
/// the thread then exits and is never reused.
/// A user namespace can't be entered that way (the kernel wants a single-threaded caller), so
/// with one the spawned process runs berth-runc's C stage instead (src/Berth.Runc/native/userns.c),
/// which creates the namespaces before the .NET runtime starts; <see cref="UserNamespaceStage"/>
/// is the runtime's half of it. Init always runs from a sealed, read-only view of its binary
/// (<see cref="SealedBinary"/>). See docs/runtime.md.
/// </summary>
public static class NamespaceSpawner
{
    /// <summary>The namespaces that init creates or joins itself, after the parent has put it in its cgroup.</summary>
    public const string DeferredToInit = "cgroup";

    /// <summary>
    /// Spawns init. Without a user namespace the pid returned is init's; with one it is the C
    /// stage's, and <see cref="UserNamespaceStage.Complete"/> turns it into init's.
    /// <paramref name="joinCgroup"/>, when given, runs on the spawning thread first (see
    /// <see cref="Cgroups.ICgroupManager.JoinAsThread"/>); InCgroup says whether init was born in the cgroup.
    /// </summary>
    public static (int Pid, bool InCgroup) Spawn(string initPath, IReadOnlyList<LinuxNamespace> namespaces, ContainerStdio stdio, int syncFd,
        int preservedFds = 0, Func<bool>? joinCgroup = null)
    {
        var pid = 0;
        var inCgroup = false;
        Exception? failure = null;
        using var binary = SealedBinary.Open(initPath);
        var thread = new Thread(() =>
        {
            try
            {
                inCgroup = joinCgroup?.Invoke() ?? false;
                pid = SpawnOnThisThread(binary.ExecPath, namespaces, stdio, syncFd, preservedFds);
            }
            catch (Exception e) { failure = e; }
        }, maxStackSize: 256 * 1024) { Name = "berth-ns-spawn", IsBackground = true };
        thread.Start();
        thread.Join();
        if (failure is not null) throw failure is RuntimeException ? failure : new RuntimeException(failure.Message, failure);
        return (pid, inCgroup);
    }

    public static bool HasUserNamespace(IReadOnlyList<LinuxNamespace> namespaces) => namespaces.Any(n => n.Type == "user");

    static int SpawnOnThisThread(string initPath, IReadOnlyList<LinuxNamespace> namespaces, ContainerStdio stdio, int syncFd, int preservedFds)
    {
        // setns into a mount namespace needs a caller whose fs_struct (root, cwd) isn't shared; the
        // thread's is shared with the rest of the process until it unshares CLONE_FS.
        if (namespaces.Any(n => n.Type == "mount" && n.Path is not null)) LibC.Check(LibC.Unshare(LibC.CLONE_FS), "unshare", "CLONE_FS");
        var userns = HasUserNamespace(namespaces);
        var unshareFlags = 0;
        var stageFds = new List<int>();
        try
        {
            int userFd = -1, pidFd = -1;
            foreach (var ns in namespaces)
            {
                if (ns.Type == DeferredToInit) continue;
                var flag = LinuxNamespace.Flags[ns.Type];
                if (ns.Path is null)
                {
                    if (ns.Type != "user") unshareFlags |= flag;
                    continue;
                }
                var fd = LibC.Check(LibC.Open(ns.Path, LibC.O_RDONLY | LibC.O_CLOEXEC), "open", ns.Path);
                // The C stage joins these: the user namespace needs a single-threaded caller, and a pid
                // namespace joined here would put the stage itself in it, so the pid it reports for init
                // would be one of that namespace's, not ours.
                if (userns && ns.Type is "user" or "pid")
                {
                    stageFds.Add(fd);
                    if (ns.Type == "user") userFd = fd; else pidFd = fd;
                    continue;
                }
                try { LibC.Check(LibC.Setns(fd, flag), "setns", ns.Path); }
                finally { LibC.Close(fd); }
            }
            // With a user namespace the others must be created inside it, so they are owned by it.
            if (unshareFlags != 0 && !userns) LibC.Check(LibC.Unshare(unshareFlags), "unshare");
            // Preserved fds keep their numbers (3, 4, ...); the sync socket goes right after them, then the C stage's fds.
            int[] fds = [stdio.Stdin, stdio.Stdout, stdio.Stderr, .. Enumerable.Range(3, preservedFds), syncFd, .. stageFds];
            string[] argv = preservedFds == 0 ? ["berth-runc", "init"] : ["berth-runc", "init", (3 + preservedFds).ToString()];
            List<string> env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
            if (userns)
            {
                var childSync = 3 + preservedFds;
                int ChildFd(int fd) => fd < 0 ? -1 : childSync + 1 + stageFds.IndexOf(fd);
                env.Add($"{UserNamespaceStage.EnvironmentVariable}={childSync} 0x{unshareFlags:x} {ChildFd(userFd)} {ChildFd(pidFd)}");
            }
            return PosixSpawn(initPath, argv, [.. env], fds);
        }
        finally
        {
            foreach (var fd in stageFds) LibC.Close(fd);
        }
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
