using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    /// <summary><paramref name="times"/> holds [atime, mtime].</summary>
    [LibraryImport(Name, EntryPoint = "futimens", SetLastError = true)]
    public static partial int Futimens(int fd, ReadOnlySpan<Timespec> times);
}
