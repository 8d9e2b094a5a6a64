using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int AF_INET = 2, AF_NETLINK = 16, SOCK_RAW = 3, SOCK_DGRAM = 2, NETLINK_ROUTE = 0;

    /// <summary>socket(2): for the families .NET's Socket doesn't open (netlink).</summary>
    [LibraryImport(Name, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Name, EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, ReadOnlySpan<byte> address, uint addressLength);

    [LibraryImport(Name, EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, ReadOnlySpan<byte> buffer, nuint length, int flags);

    [LibraryImport(Name, EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, Span<byte> buffer, nuint length, int flags);
}
