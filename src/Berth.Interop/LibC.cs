namespace Berth.Interop;

/// <summary>
/// The one place that names the C library. Each syscall lives in its own
/// <c>Interop.&lt;Name&gt;.cs</c> file as a <c>partial class LibC</c> member, declared with
/// <c>[LibraryImport(LibC.Name, SetLastError = true)]</c>; business code never calls
/// <c>DllImport</c> itself.
/// </summary>
public static partial class LibC
{
    public const string Name = "libc";

    /// <summary>Throws <see cref="SysException"/> for the last errno when <paramref name="result"/> is -1.</summary>
    public static int Check(int result, string call, string? subject = null)
    {
        if (result == -1) throw SysException.FromLastError(call, subject);
        return result;
    }

    public static long Check(long result, string call, string? subject = null)
    {
        if (result == -1) throw SysException.FromLastError(call, subject);
        return result;
    }
}
