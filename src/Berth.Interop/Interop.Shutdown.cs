using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

    [LibraryImport(Name, EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);
}
