using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    /// <summary>
    /// glibc's getcwd: NULL with ENOENT when the working directory is not reachable from the
    /// process's root (the kernel marks such a path "(unreachable)"), which is what makes it a
    /// check that a chdir stayed inside a chroot or pivot_root.
    /// </summary>
    [LibraryImport(Name, EntryPoint = "getcwd", SetLastError = true)]
    public static unsafe partial byte* Getcwd(byte* buffer, nuint size);

    /// <summary>The working directory, or a <see cref="SysException"/> (ENOENT: outside the root).</summary>
    public static unsafe string GetCwd()
    {
        var buffer = stackalloc byte[4096];
        if (Getcwd(buffer, 4096) == null) throw SysException.FromLastError("getcwd");
        return Marshal.PtrToStringUTF8((nint)buffer)!;
    }
}
