using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const uint OPEN_TREE_CLONE = 1, OPEN_TREE_CLOEXEC = 0x80000;
    public const uint AT_EMPTY_PATH = 0x1000;

    /// <summary>
    /// With <see cref="OPEN_TREE_CLONE"/>: a detached bind mount of <paramref name="path"/>, attached to no
    /// mount namespace (so nothing propagates), dissolved when the last fd to it is closed.
    /// </summary>
    [LibraryImport(Name, EntryPoint = "open_tree", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int OpenTree(int dirFd, string path, uint flags);
}
