using System.Text;
using Berth.Interop;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime;

/// <summary>
/// Pseudo-terminals for containers with <c>process.terminal</c>. Init opens one inside the
/// container (its /dev/ptmx, so the slave lives in the container's devpts), keeps the slave as
/// stdio and hands the master to the runtime's caller.
/// </summary>
public static class Pty
{
    /// <summary>A new pty from this mount namespace's /dev/ptmx; <c>SlavePath</c> is the slave's name there.</summary>
    public static (SafeFileHandle Master, SafeFileHandle Slave, string SlavePath) Open()
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
            return (master, new SafeFileHandle(slave, ownsHandle: true), path);
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
