using System.Text;
using Berth.Interop;

namespace Berth.Graph.Drivers;

/// <summary>
/// File metadata operations that never follow a symlink at the final component. Shared by the tar
/// extractor and the vfs copier so both preserve owners, modes, times, xattrs and special files alike.
/// </summary>
internal static class FileMeta
{
    public static void Chown(string path, int uid, int gid) => LibC.Check(LibC.LChown(path, uid, gid), "lchown", path);

    /// <summary>Must follow <see cref="Chown"/>: chown clears setuid/setgid bits.</summary>
    public static void Chmod(string path, uint mode) => File.SetUnixFileMode(path, (UnixFileMode)(mode & 0xfff));

    public static void SetTimes(string path, DateTimeOffset atime, DateTimeOffset mtime) =>
        LibC.Check(LibC.Utimensat(LibC.AT_FDCWD, path, [LibC.Timespec.From(atime), LibC.Timespec.From(mtime)],
            LibC.AT_SYMLINK_NOFOLLOW), "utimensat", path);

    public static void SetXattr(string path, string name, ReadOnlySpan<byte> value) =>
        LibC.Check(LibC.LSetXattr(path, name, value, (nuint)value.Length, 0), "lsetxattr " + name, path);

    public static byte[]? GetXattr(string path, string name)
    {
        nint n = LibC.LGetXattr(path, name, Span<byte>.Empty, 0);
        if (n < 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno is Errno.ENODATA or Errno.EOPNOTSUPP) return null;
            throw new SysException("lgetxattr " + name, path, errno);
        }
        var buf = new byte[n];
        n = (nint)LibC.Check(LibC.LGetXattr(path, name, buf, (nuint)buf.Length), "lgetxattr " + name, path);
        return buf[..(int)n];
    }

    public static IReadOnlyList<string> ListXattrs(string path)
    {
        nint n = LibC.LListXattr(path, Span<byte>.Empty, 0);
        if (n < 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno == Errno.EOPNOTSUPP) return [];
            throw new SysException("llistxattr", path, errno);
        }
        if (n == 0) return [];
        var buf = new byte[n];
        n = (nint)LibC.Check(LibC.LListXattr(path, buf, (nuint)buf.Length), "llistxattr", path);
        return Encoding.UTF8.GetString(buf, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Creates a device node, fifo or socket; <paramref name="mode"/> carries the S_IF* type bits.</summary>
    public static void MakeNode(string path, uint mode, uint major, uint minor) =>
        LibC.Check(LibC.Mknod(path, mode, LibC.MakeDev(major, minor)), "mknod", path);

    public static void Link(string existing, string newPath) => LibC.Check(LibC.Link(existing, newPath), "link", newPath);

    /// <summary>Removes whatever is at <paramref name="path"/> (a tree, a file, a dangling symlink); absent is fine.</summary>
    public static void RemoveAll(string path)
    {
        if (!LibC.TryLStat(path, out var st)) return;
        if (st.FileType == LibC.S_IFDIR) Directory.Delete(path, recursive: true);
        else File.Delete(path);
    }

    public static bool IsDirectory(string path) => LibC.TryLStat(path, out var st) && st.FileType == LibC.S_IFDIR;
}
