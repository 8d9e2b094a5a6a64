using System.Text;
using Berth.Interop;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime;

/// <summary>Pseudo-terminals for containers with <c>process.terminal</c>: the caller keeps the master, init gets the slave as stdio.</summary>
public static class Pty
{
    public static (SafeFileHandle Master, SafeFileHandle Slave) Open()
    {
        var master = new SafeFileHandle(LibC.Check(LibC.PosixOpenpt(LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC), "posix_openpt"), ownsHandle: true);
        try
        {
            LibC.Check(LibC.Grantpt((int)master.DangerousGetHandle()), "grantpt");
            LibC.Check(LibC.Unlockpt((int)master.DangerousGetHandle()), "unlockpt");
            Span<byte> name = stackalloc byte[128];
            var rc = LibC.PtsnameR((int)master.DangerousGetHandle(), name, name.Length);
            if (rc != 0) throw new SysException("ptsname_r", null, rc);
            var path = Encoding.UTF8.GetString(name[..name.IndexOf((byte)0)]);
            var slave = LibC.Check(LibC.Open(path, LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC), "open", path);
            return (master, new SafeFileHandle(slave, ownsHandle: true));
        }
        catch
        {
            master.Dispose();
            throw;
        }
    }

    public static void Resize(System.Runtime.InteropServices.SafeHandle master, ushort rows, ushort cols)
    {
        var size = new LibC.WinSize { Rows = rows, Cols = cols };
        LibC.Check(LibC.Ioctl((int)master.DangerousGetHandle(), LibC.TIOCSWINSZ, size), "ioctl TIOCSWINSZ");
    }
}
