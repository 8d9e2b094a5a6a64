using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    /// <summary>statfs f_flags: the mount is read-only.</summary>
    public const long ST_RDONLY = 1;

    [StructLayout(LayoutKind.Explicit, Size = 120)]
    public struct StatfsResult
    {
        /// <summary>The filesystem's magic number (EXT4_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, ...).</summary>
        [FieldOffset(0)] public long Type;
        /// <summary>The mount's flags (ST_RDONLY, ST_NOSUID, ...).</summary>
        [FieldOffset(80)] public long Flags;
    }

    [LibraryImport(Name, EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statfs(string path, out StatfsResult result);
}
