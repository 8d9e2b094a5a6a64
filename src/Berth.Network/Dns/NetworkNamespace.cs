using Berth.Interop;

namespace Berth.Network.Dns;

/// <summary>
/// Runs code inside another network namespace. setns moves only the calling thread, and a .NET
/// thread-pool thread must never be left in a foreign namespace, so the work runs on a fresh
/// thread that ends right after. What it creates there keeps its namespace for life: a socket
/// opened on that thread stays bound in the container's netns even when the daemon's async loop
/// (in the host's netns) serves it afterwards.
/// </summary>
public static class NetworkNamespace
{
    public static T Run<T>(string netnsPath, Func<T> action)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using (var ns = File.OpenHandle(netnsPath))
                {
                    LibC.Check(LibC.Setns((int)ns.DangerousGetHandle(), LibC.CLONE_NEWNET), "setns", netnsPath);
                }
                result = action();
            }
            catch (Exception e)
            {
                error = e;
            }
        }, 256 * 1024) { IsBackground = true, Name = "netns" };
        thread.Start();
        thread.Join();
        if (error is not null) throw error;
        return result;
    }
}
