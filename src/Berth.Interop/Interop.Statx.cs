using System.Runtime.InteropServices;

namespace Berth.Interop;

/// <summary>statx(2): unlike struct stat its layout is the same on every architecture.</summary>
public static partial class LibC
{
    public const uint STATX_BASIC_STATS = 0x7ff;

    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Sec;
        public uint Nsec;
        int _reserved;

        public readonly DateTimeOffset ToDateTimeOffset() =>
            DateTimeOffset.UnixEpoch.AddTicks(Sec * TimeSpan.TicksPerSecond + Nsec / 100);
    }

    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct Statx
    {
        public uint Mask;
        public uint BlkSize;
        public ulong Attributes;
        public uint Nlink;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        ushort _spare0;
        public ulong Ino;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public StatxTimestamp Atime, Btime, Ctime, Mtime;
        public uint RdevMajor, RdevMinor, DevMajor, DevMinor;

        public readonly uint FileType => Mode & S_IFMT;
    }

    [LibraryImport(Name, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatxCall(int dirfd, string path, int flags, uint mask, out Statx result);

    /// <summary>lstat-like: describes a symlink itself rather than its target.</summary>
    public static Statx LStat(string path)
    {
        Check(StatxCall(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out var st), "statx", path);
        return st;
    }

    /// <summary>Like <see cref="LStat"/> but returns false when the path does not exist.</summary>
    public static bool TryLStat(string path, out Statx st)
    {
        if (StatxCall(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out st) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is Errno.ENOENT or Errno.ENOTDIR) return false;
        throw new SysException("statx", path, errno);
    }
}
