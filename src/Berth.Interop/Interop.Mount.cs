using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const ulong MS_RDONLY = 0x1, MS_NOSUID = 0x2, MS_NODEV = 0x4, MS_NOEXEC = 0x8, MS_REMOUNT = 0x20,
        MS_BIND = 0x1000, MS_MOVE = 0x2000, MS_REC = 0x4000, MS_PRIVATE = 0x40000, MS_SLAVE = 0x80000;

    public const int MNT_FORCE = 1, MNT_DETACH = 2;

    [LibraryImport(Name, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport(Name, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);
}
