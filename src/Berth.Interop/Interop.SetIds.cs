using System.Runtime.InteropServices;

namespace Berth.Interop;

// glibc's set*id wrappers apply the change to every thread of the process (POSIX semantics),
// unlike the raw syscalls, which change only the calling thread.
public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "setgroups", SetLastError = true)]
    public static partial int SetGroups(nint size, ReadOnlySpan<uint> groups);

    [LibraryImport(Name, EntryPoint = "setresgid", SetLastError = true)]
    public static partial int SetResGid(uint rgid, uint egid, uint sgid);

    [LibraryImport(Name, EntryPoint = "setresuid", SetLastError = true)]
    public static partial int SetResUid(uint ruid, uint euid, uint suid);
}
