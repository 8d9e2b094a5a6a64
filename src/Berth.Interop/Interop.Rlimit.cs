using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit { public ulong Current; public ulong Max; }

    [LibraryImport(Name, EntryPoint = "prlimit", SetLastError = true)]
    public static partial int Prlimit(int pid, int resource, in RLimit newLimit, out RLimit oldLimit);

    [LibraryImport(Name, EntryPoint = "getrlimit", SetLastError = true)]
    public static partial int GetRlimit(int resource, out RLimit limit);
}
