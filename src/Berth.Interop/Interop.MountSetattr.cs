using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const ulong MOUNT_ATTR_RDONLY = 0x1, MOUNT_ATTR_NOSUID = 0x2, MOUNT_ATTR_NODEV = 0x4;

    [StructLayout(LayoutKind.Sequential)]
    public struct MountAttr
    {
        public ulong AttrSet, AttrClr, Propagation, UsernsFd;
    }

    [LibraryImport(Name, EntryPoint = "mount_setattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MountSetattrRaw(int dirFd, string path, uint flags, in MountAttr attr, nuint size);

    /// <summary>Sets and clears per-mount attributes (MOUNT_ATTR_*) of the mount at <paramref name="path"/> (or of <paramref name="dirFd"/> with AT_EMPTY_PATH).</summary>
    public static unsafe int MountSetattr(int dirFd, string path, uint flags, ulong set, ulong clear) =>
        MountSetattrRaw(dirFd, path, flags, new MountAttr { AttrSet = set, AttrClr = clear }, (nuint)sizeof(MountAttr));
}
