using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Sec;
        public long Nsec;

        public static Timespec From(DateTimeOffset t)
        {
            long ticks = t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
            return new Timespec { Sec = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem) - (rem < 0 ? 1 : 0),
                                  Nsec = (rem < 0 ? rem + TimeSpan.TicksPerSecond : rem) * 100 };
        }
    }

    /// <summary><paramref name="times"/> holds [atime, mtime].</summary>
    [LibraryImport(Name, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Utimensat(int dirfd, string path, ReadOnlySpan<Timespec> times, int flags);
}
