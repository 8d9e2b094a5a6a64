using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    /// <summary>Returns only on failure.</summary>
    [LibraryImport(Name, EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Execve(string path, byte** argv, byte** envp);

    /// <summary>A NULL-terminated array of NUL-terminated UTF-8 strings in unmanaged memory, as argv/envp; free with <see cref="FreeStringArray"/>.</summary>
    public static unsafe byte** AllocStringArray(IReadOnlyList<string> items)
    {
        var array = (byte**)NativeMemory.AllocZeroed((nuint)(items.Count + 1), (nuint)sizeof(byte*));
        for (var i = 0; i < items.Count; i++) array[i] = (byte*)Marshal.StringToCoTaskMemUTF8(items[i]);
        return array;
    }

    public static unsafe void FreeStringArray(byte** array)
    {
        for (var p = array; *p != null; p++) Marshal.FreeCoTaskMem((nint)(*p));
        NativeMemory.Free(array);
    }
}
