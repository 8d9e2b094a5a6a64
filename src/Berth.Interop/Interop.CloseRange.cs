using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int CLOSE_RANGE_CLOEXEC = 4;

    [LibraryImport(Name, EntryPoint = "close_range", SetLastError = true)]
    public static partial int CloseRange(uint first, uint last, int flags);
}
