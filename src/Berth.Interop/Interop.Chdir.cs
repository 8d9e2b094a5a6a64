using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chdir(string path);
}
