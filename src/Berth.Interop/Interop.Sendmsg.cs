using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000, MSG_NOSIGNAL = 0x4000;

    [StructLayout(LayoutKind.Sequential)]
    unsafe struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    unsafe struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>The most descriptors one message carries; the sync and console protocols pass one.</summary>
    public const int MaxPassedFds = 4;

    [LibraryImport(Name, EntryPoint = "sendmsg", SetLastError = true)]
    private static unsafe partial nint SendMsgRaw(int fd, MsgHdr* msg, int flags);

    [LibraryImport(Name, EntryPoint = "recvmsg", SetLastError = true)]
    private static unsafe partial nint RecvMsgRaw(int fd, MsgHdr* msg, int flags);

    /// <summary>sendmsg(2) of <paramref name="data"/> (at least one byte) with <paramref name="fds"/> attached as SCM_RIGHTS.</summary>
    public static unsafe nint SendWithFds(int socket, ReadOnlySpan<byte> data, ReadOnlySpan<int> fds)
    {
        if (fds.Length > MaxPassedFds) throw new ArgumentOutOfRangeException(nameof(fds));
        var control = stackalloc byte[sizeof(CmsgHdr) + MaxPassedFds * sizeof(int)];
        fixed (byte* p = data)
        {
            var iov = new IoVec { Base = p, Length = (nuint)data.Length };
            var msg = new MsgHdr { Iov = &iov, IovLength = 1 };
            if (fds.Length > 0)
            {
                var header = (CmsgHdr*)control;
                *header = new CmsgHdr { Length = (nuint)(sizeof(CmsgHdr) + fds.Length * sizeof(int)), Level = SOL_SOCKET, Type = SCM_RIGHTS };
                fds.CopyTo(new Span<int>(control + sizeof(CmsgHdr), fds.Length));
                msg.Control = control;
                // CMSG_SPACE: the payload rounded up to the header's alignment.
                msg.ControlLength = (nuint)(sizeof(CmsgHdr) + (fds.Length * sizeof(int) + 7 & ~7));
            }
            return SendMsgRaw(socket, &msg, MSG_NOSIGNAL);
        }
    }

    /// <summary>
    /// recvmsg(2) into <paramref name="buffer"/>; descriptors that came with the data are appended to
    /// <paramref name="fds"/>, close-on-exec. Returns the byte count (0 at EOF) or -1.
    /// </summary>
    public static unsafe nint ReceiveWithFds(int socket, Span<byte> buffer, List<int> fds)
    {
        var control = stackalloc byte[sizeof(CmsgHdr) + MaxPassedFds * sizeof(int)];
        fixed (byte* p = buffer)
        {
            var iov = new IoVec { Base = p, Length = (nuint)buffer.Length };
            var msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)(sizeof(CmsgHdr) + MaxPassedFds * sizeof(int)) };
            var n = RecvMsgRaw(socket, &msg, MSG_CMSG_CLOEXEC);
            if (n < 0) return n;
            var offset = 0;
            while (offset + sizeof(CmsgHdr) <= (int)msg.ControlLength)
            {
                var header = (CmsgHdr*)(control + offset);
                if (header->Length < (nuint)sizeof(CmsgHdr)) break;
                if (header->Level == SOL_SOCKET && header->Type == SCM_RIGHTS)
                {
                    var count = ((int)header->Length - sizeof(CmsgHdr)) / sizeof(int);
                    for (var i = 0; i < count; i++) fds.Add(((int*)(control + offset + sizeof(CmsgHdr)))[i]);
                }
                offset += (int)header->Length + 7 & ~7;
            }
            return n;
        }
    }
}
