using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const long ST_RDONLY = 0x1, ST_NOSUID = 0x2, ST_NODEV = 0x4, ST_NOEXEC = 0x8;

    [StructLayout(LayoutKind.Explicit, Size = 120)]
    public struct StatfsResult
    {
        /// <summary>The filesystem's magic number (EXT4_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, ...).</summary>
        [FieldOffset(0)] public long Type;
        /// <summary>The mount's flags (ST_*), which have the same values as the MS_* mount flags.</summary>
        [FieldOffset(80)] public long Flags;
    }

    [LibraryImport(Name, EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statfs(string path, out StatfsResult result);
}
