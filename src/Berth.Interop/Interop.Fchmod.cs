using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, uint mode);
}
