using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [StructLayout(LayoutKind.Sequential, Size = 120)]
    public struct StatfsResult
    {
        /// <summary>The filesystem's magic number (EXT4_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, ...).</summary>
        public long Type;
    }

    [LibraryImport(Name, EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statfs(string path, out StatfsResult result);
}
