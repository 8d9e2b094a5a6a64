using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    const long SYS_pivot_root = 155;

    // glibc has no pivot_root wrapper, so it goes through syscall(2).
    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long SyscallPivotRoot(long number, string newRoot, string putOld);

    public static int PivotRoot(string newRoot, string putOld) => (int)SyscallPivotRoot(SYS_pivot_root, newRoot, putOld);
}
