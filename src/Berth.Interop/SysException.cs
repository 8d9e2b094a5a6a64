using System.Runtime.InteropServices;

namespace Berth.Interop;

/// <summary>
/// A failed kernel call: which call, on what (a path, a pid, a device), and the errno.
/// The message reads like the C library's: "mount /a on /b: Permission denied".
/// </summary>
public sealed class SysException : Exception
{
    public int Errno { get; }
    public string Call { get; }
    public string? Subject { get; }

    public SysException(string call, string? subject, int errno)
        : base(Format(call, subject, errno))
    {
        Call = call;
        Subject = subject;
        Errno = errno;
    }

    public static SysException FromLastError(string call, string? subject = null) =>
        new(call, subject, Marshal.GetLastPInvokeError());

    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    static string Format(string call, string? subject, int errno) =>
        subject is null ? $"{call}: {Describe(errno)}" : $"{call} {subject}: {Describe(errno)}";
}

/// <summary>errno values Berth branches on (Linux x86-64 numbering).</summary>
public static class Errno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, EBADF = 9, ECHILD = 10,
        EAGAIN = 11, ENOMEM = 12, EACCES = 13, EBUSY = 16, EEXIST = 17, EXDEV = 18, ENOTDIR = 20,
        ENODEV = 19, EISDIR = 21, EINVAL = 22, ENOSPC = 28, EROFS = 30, EPIPE = 32, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40,
        ENODATA = 61, EOPNOTSUPP = 95, ECONNREFUSED = 111;
}
