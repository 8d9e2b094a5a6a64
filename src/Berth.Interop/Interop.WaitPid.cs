using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int WNOHANG = 1;

    [LibraryImport(Name, EntryPoint = "waitpid", SetLastError = true)]
    public static partial int WaitPid(int pid, out int status, int options);

    /// <summary>The shell's convention: the exit code, or 128 + the signal that killed the process.</summary>
    public static int ExitCodeOf(int status) => (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
}
