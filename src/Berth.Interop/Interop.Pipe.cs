using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;

    [LibraryImport(Name, EntryPoint = "pipe2", SetLastError = true)]
    private static unsafe partial int Pipe2(int* fds, int flags);

    /// <summary>Creates a pipe; returns (read end, write end).</summary>
    public static unsafe (int Read, int Write) Pipe(int flags = O_CLOEXEC)
    {
        int* fds = stackalloc int[2];
        Check(Pipe2(fds, flags), "pipe2");
        return (fds[0], fds[1]);
    }
}
