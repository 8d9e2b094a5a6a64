using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    /// <summary>Hard link; Linux's link(2) does not dereference <paramref name="oldPath"/> when it is a symlink.</summary>
    [LibraryImport(Name, EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string oldPath, string newPath);
}
