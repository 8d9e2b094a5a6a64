using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteRaw(int fd, byte* buffer, nuint count);

    /// <summary>One write(2) call; for files such as /proc/PID/uid_map that must get their whole content at once.</summary>
    public static unsafe nint Write(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data) return WriteRaw(fd, p, (nuint)data.Length);
    }
}
