using System.Net.Sockets;
using Berth.Interop;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime;

/// <summary>
/// runc's --console-socket protocol: the runtime connects to a unix socket the caller listens on
/// and sends the pty master as SCM_RIGHTS, with the slave's name as the message bytes.
/// </summary>
public static class ConsoleSocket
{
    public static void Send(string path, SafeFileHandle master)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { socket.Connect(new UnixDomainSocketEndPoint(path)); }
        catch (SocketException e) { throw new RuntimeException($"connect to console socket {path}: {e.Message}", e); }
        var name = "/dev/ptmx"u8;
        if (LibC.SendWithFds((int)socket.Handle, name, [(int)master.DangerousGetHandle()]) < 0)
            throw SysException.FromLastError("sendmsg", $"console socket {path}");
    }
}
