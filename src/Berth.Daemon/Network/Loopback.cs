using System.Net.Sockets;
using Berth.Interop;

namespace Berth.Daemon.Network;

/// <summary>
/// The networkdriver's "none" mode: a container's fresh network namespace gets its loopback
/// interface up (127.0.0.1 then works inside), as Docker does, and nothing else. Bridges, veths
/// and published ports are the bridge driver's work.
/// </summary>
public static class Loopback
{
    const int CLONE_NEWNET = 0x40000000;
    const ulong SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
    const short IFF_UP = 0x1;

    /// <summary>
    /// Brings up <c>lo</c> in the network namespace of <paramref name="pid"/>. setns only moves the
    /// calling thread, so it runs on a thread of its own that ends afterwards; the socket it
    /// creates belongs to the namespace that thread is in.
    /// </summary>
    public static void BringUp(int pid)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/proc/{pid}/ns/net");
                LibC.Check(LibC.Setns((int)ns.DangerousGetHandle(), CLONE_NEWNET), "setns", $"/proc/{pid}/ns/net");
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                SetUp((int)socket.Handle, "lo");
            }
            catch (Exception e)
            {
                error = e;
            }
        }, 256 * 1024) { IsBackground = true, Name = "netns-lo" };
        thread.Start();
        thread.Join();
        if (error is not null) throw error;
    }

    static unsafe void SetUp(int fd, string ifname)
    {
        // struct ifreq: char ifr_name[16], then a union whose first member is short ifr_flags.
        byte* ifreq = stackalloc byte[40];
        new Span<byte>(ifreq, 40).Clear();
        System.Text.Encoding.ASCII.GetBytes(ifname, new Span<byte>(ifreq, 15));
        LibC.Check(LibC.Ioctl(fd, SIOCGIFFLAGS, (nint)ifreq), "ioctl SIOCGIFFLAGS", ifname);
        *(short*)(ifreq + 16) |= IFF_UP;
        LibC.Check(LibC.Ioctl(fd, SIOCSIFFLAGS, (nint)ifreq), "ioctl SIOCSIFFLAGS", ifname);
    }
}
