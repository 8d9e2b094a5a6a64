using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_NOCTTY = 0x100, O_DIRECTORY = 0x10000, O_PATH = 0x200000,
        O_CREAT = 0x40, O_EXCL = 0x80, O_NOFOLLOW = 0x20000;

    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode = 0);

    [LibraryImport(Name, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);
}
