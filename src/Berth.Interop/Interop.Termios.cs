using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const ulong TIOCGWINSZ = 0x5413;
    public const int TCSANOW = 0;

    /// <summary>glibc's <c>struct termios</c> (60 bytes on Linux), kept opaque: callers only save, make raw and restore it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct Termios
    {
        public fixed byte Data[64];

        /// <summary>Clears bits of <c>c_lflag</c>, the fourth 32-bit field of glibc's layout (e.g. <see cref="ECHO"/>).</summary>
        public void ClearLocalFlags(uint flags)
        {
            fixed (byte* p = Data) ((uint*)p)[3] &= ~flags;
        }
    }

    /// <summary><c>c_lflag</c>: echo input characters.</summary>
    public const uint ECHO = 0x8;

    [LibraryImport(Name, EntryPoint = "isatty")]
    public static partial int Isatty(int fd);

    [LibraryImport(Name, EntryPoint = "tcgetattr", SetLastError = true)]
    public static partial int Tcgetattr(int fd, out Termios termios);

    [LibraryImport(Name, EntryPoint = "tcsetattr", SetLastError = true)]
    public static partial int Tcsetattr(int fd, int optionalActions, in Termios termios);

    [LibraryImport(Name, EntryPoint = "cfmakeraw")]
    public static partial void Cfmakeraw(ref Termios termios);

    /// <summary><c>ioctl(fd, TIOCGWINSZ)</c>: the terminal's size.</summary>
    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlGetWinSize(int fd, ulong request, out WinSize size);
}
