using Berth.Interop;

namespace Berth.Network.Netlink;

/// <summary>
/// Private network namespaces (for tests and for sandboxes the daemon makes itself). Running code
/// inside an existing namespace is <see cref="Dns.NetworkNamespace.Run"/>, shared with the DNS server.
/// </summary>
public static class Netns
{
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
