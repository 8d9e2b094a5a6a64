using Berth.Interop;

namespace Berth.Runtime;

/// <summary>
/// How a container created by one process is started by another (runc's create, then start).
/// runc parks init on an exec fifo; Berth parks it on a listening unix socket instead: the
/// creating process binds it in the state directory and hands the listening fd to init, which
/// blocks in accept. Whoever connects later gets the same sync protocol the creator had
/// (start, then EOF on exec or an error message), so a failed exec is still reported to `start`.
/// </summary>
public static class StartSocket
{
    public static int Listen(string path)
    {
        var fd = LibC.Check(LibC.Socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0), "socket", path);
        try
        {
            WithShortPath(path, p =>
            {
                var address = LibC.UnixAddress(p);
                LibC.Check(LibC.Bind(fd, address, (uint)address.Length), "bind", path);
            });
            LibC.Check(LibC.Listen(fd, 1), "listen", path);
            return fd;
        }
        catch
        {
            LibC.Close(fd);
            throw;
        }
    }

    public static int Connect(string path)
    {
        var fd = LibC.Check(LibC.Socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0), "socket", path);
        try
        {
            WithShortPath(path, p =>
            {
                var address = LibC.UnixAddress(p);
                LibC.Check(LibC.Connect(fd, address, (uint)address.Length), "connect", path);
            });
            return fd;
        }
        catch
        {
            LibC.Close(fd);
            throw;
        }
    }

    /// <summary>Blocks until someone connects; the connected fd.</summary>
    public static int Accept(int listener)
    {
        while (true)
        {
            var fd = LibC.Accept4(listener, 0, 0, LibC.SOCK_CLOEXEC);
            if (fd >= 0) return fd;
            var e = SysException.FromLastError("accept", "start socket");
            if (e.Errno != Errno.EINTR) throw e;
        }
    }

    // sockaddr_un holds 107 bytes; callers' state directories (containerd's under a temp exec-root,
    // with 64-character ids) can be longer. The directory's /proc/self/fd link is always short.
    static void WithShortPath(string path, Action<string> use)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(path) <= 100) { use(path); return; }
        var dir = Path.GetDirectoryName(path)!;
        var dirFd = LibC.Check(LibC.Open(dir, LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_CLOEXEC), "open", dir);
        try { use($"/proc/self/fd/{dirFd}/{Path.GetFileName(path)}"); }
        finally { LibC.Close(dirFd); }
    }
}
