using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mkdir(string path, uint mode);

    [LibraryImport(Name, EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rmdir(string path);
}
