using Berth.Interop;

namespace Berth.Network.Netlink;

/// <summary>
/// Runs code inside another network namespace. setns moves only the calling thread, so the work
/// runs on a dedicated thread that enters the namespace and then ends; sockets it opens stay bound
/// to that namespace after it is gone, which is how the daemon configures a container's interfaces
/// without ever moving one of its own pool threads.
/// </summary>
public static class Netns
{
    public static T Run<T>(string netnsPath, Func<T> work)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                int fd = LibC.Check(LibC.Open(netnsPath, LibC.O_RDONLY | LibC.O_CLOEXEC), "open", netnsPath);
                try { LibC.Check(LibC.Setns(fd, LibC.CLONE_NEWNET), "setns", netnsPath); }
                finally { LibC.Close(fd); }
                result = work();
            }
            catch (Exception e) { error = e; }
        }, 256 * 1024) { IsBackground = true, Name = "netns" };
        thread.Start();
        thread.Join();
        if (error is not null) throw error;
        return result;
    }

    public static void Run(string netnsPath, Action work) => Run(netnsPath, () => { work(); return true; });

    /// <summary>
    /// A new, empty network namespace, held open by the returned handle (closing it lets the kernel
    /// free the namespace and every interface in it). Its path is /proc/self/fd/N of the handle.
    /// </summary>
    public static NetnsHandle Create()
    {
        var thread = new Thread(Unshared, 256 * 1024) { IsBackground = true, Name = "netns-new" };
        var box = new StrongBox();
        thread.Start(box);
        thread.Join();
        if (box.Error is not null) throw box.Error;
        return new NetnsHandle(box.Fd);
    }

    sealed class StrongBox { public int Fd = -1; public Exception? Error; }

    static void Unshared(object? state)
    {
        var box = (StrongBox)state!;
        try
        {
            LibC.Check(LibC.Unshare(LibC.CLONE_NEWNET), "unshare", "CLONE_NEWNET");
            box.Fd = LibC.Check(LibC.Open("/proc/thread-self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC), "open", "/proc/thread-self/ns/net");
        }
        catch (Exception e) { box.Error = e; }
    }
}

/// <summary>An open network namespace fd; disposing it releases the namespace.</summary>
public sealed class NetnsHandle(int fd) : IDisposable
{
    public int Fd { get; } = fd;
    public string Path => $"/proc/{Environment.ProcessId}/fd/{Fd}";
    public void Dispose() => LibC.Close(Fd);
}
