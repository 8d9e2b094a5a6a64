using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;

    [LibraryImport(Name, EntryPoint = "socketpair", SetLastError = true)]
    private static unsafe partial int SocketPairRaw(int domain, int type, int protocol, int* fds);

    /// <summary>A connected pair of unix stream sockets, close-on-exec.</summary>
    public static unsafe (int A, int B) SocketPair()
    {
        int* fds = stackalloc int[2];
        Check(SocketPairRaw(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair");
        return (fds[0], fds[1]);
    }
}
