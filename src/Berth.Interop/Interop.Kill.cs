using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int SIGKILL = 9, SIGTERM = 15;

    [LibraryImport(Name, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
