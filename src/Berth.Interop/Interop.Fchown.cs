using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "fchown", SetLastError = true)]
    public static partial int Fchown(int fd, int owner, int group);
}
