using Berth.Interop;

namespace Berth.Runtime;

/// <summary>
/// CVE-2019-5736: a container process that reaches /proc/PID/exe of a process running the runtime's
/// binary (init before it execs, or berth-runc run again through a "#!/proc/self/exe" script) could
/// reopen it for writing once it is no longer busy, and so replace the host's berth-runc. Init is
/// therefore executed from a detached, read-only bind mount of the binary: open_tree(OPEN_TREE_CLONE)
/// makes a copy of the mount attached to no namespace (nothing propagates anywhere), and
/// mount_setattr makes that copy read-only. Every path to the file through init's exe then goes
/// through the read-only mount, and opening it for writing fails with EROFS, even for host root.
/// The mount can't be made writable again: once the fd below is closed (right after the spawn) the
/// kernel dissolves the copy's anonymous namespace, and a mount in no namespace can be neither
/// reconfigured nor cloned. It costs two syscalls per spawn, where a sealed memfd copy of the binary
/// would cost a 5 MB copy per container (docs/security.md).
/// </summary>
sealed class SealedBinary : IDisposable
{
    readonly int fd;

    SealedBinary(int fd) => this.fd = fd;

    /// <summary>The path to exec: the mount through this process's fd table.</summary>
    public string ExecPath => $"/proc/self/fd/{fd}";

    public static SealedBinary Open(string path)
    {
        var tree = LibC.OpenTree(LibC.AT_FDCWD, path, LibC.OPEN_TREE_CLONE | LibC.OPEN_TREE_CLOEXEC);
        if (tree == -1) throw new RuntimeException($"sealing the init binary: {SysException.FromLastError("open_tree", path).Message}");
        try
        {
            if (LibC.MountSetattr(tree, "", LibC.AT_EMPTY_PATH, LibC.MOUNT_ATTR_RDONLY | LibC.MOUNT_ATTR_NOSUID | LibC.MOUNT_ATTR_NODEV, 0) == -1)
                throw new RuntimeException($"sealing the init binary: {SysException.FromLastError("mount_setattr", path).Message}");
            // Above the fd numbers posix_spawn dup2s the child's stdio and sync socket onto, so none overwrites it before the exec.
            return new SealedBinary(LibC.Check(LibC.Fcntl(tree, LibC.F_DUPFD_CLOEXEC, 64), "fcntl F_DUPFD_CLOEXEC", path));
        }
        finally { LibC.Close(tree); }
    }

    public void Dispose() => LibC.Close(fd);
}
