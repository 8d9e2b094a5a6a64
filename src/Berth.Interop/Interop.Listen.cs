using System.Runtime.InteropServices;
using System.Text;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "listen", SetLastError = true)]
    public static partial int Listen(int fd, int backlog);

    [LibraryImport(Name, EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, nint address, nint addressLength, int flags);

    [LibraryImport(Name, EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, ReadOnlySpan<byte> address, uint addressLength);

    /// <summary>A sockaddr_un for <paramref name="path"/>; the kernel limits it to 107 bytes.</summary>
    public static byte[] UnixAddress(string path)
    {
        var name = Encoding.UTF8.GetBytes(path);
        if (name.Length > 107) throw new SysException("sockaddr_un", path, (int)Errno.ENAMETOOLONG);
        var address = new byte[2 + name.Length + 1];
        BitConverter.TryWriteBytes(address.AsSpan(0, 2), (ushort)AF_UNIX);
        name.CopyTo(address, 2);
        return address;
    }
}
