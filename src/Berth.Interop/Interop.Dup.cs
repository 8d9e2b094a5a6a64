using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    /// <summary>Makes <paramref name="newFd"/> a copy of <paramref name="oldFd"/>; the copy does not have FD_CLOEXEC.</summary>
    [LibraryImport(Name, EntryPoint = "dup2", SetLastError = true)]
    public static partial int Dup2(int oldFd, int newFd);
}
