using System.Runtime.InteropServices;
using Berth.Interop;

namespace Berth.Cli.Transport;

/// <summary>
/// A connected unix stream socket driven by blocking libc calls. The CLI uses it for commands
/// whose requests go one after another: System.Net.Sockets' Socket starts the runtime's socket
/// engine (an epoll thread) and probes for IPv4/IPv6 support on its first use, a few hundred
/// microseconds on every <c>run</c> that a blocking connect, send and recv don't need.
/// Failures surface as <see cref="IOException"/>s carrying the <see cref="SysException"/>, and
/// a refused or missing socket as the SysException itself, which the client reports as an
/// unreachable daemon.
/// </summary>
public sealed class UnixSocketStream : Stream
{
    /// <summary>
    /// The socket's descriptor, reference-counted: a stdin pump may still be writing when the main
    /// thread disposes the stream, and the number must not be closed (and reused by the next
    /// connection) under it.
    /// </summary>
    sealed class Descriptor(int fd) : SafeHandle(fd, ownsHandle: true)
    {
        public override bool IsInvalid => handle < 0;
        protected override bool ReleaseHandle() => LibC.Close((int)handle) == 0;
    }

    readonly Descriptor _fd;

    UnixSocketStream(int fd) => _fd = new Descriptor(fd);

    public static UnixSocketStream Connect(string path)
    {
        var address = LibC.UnixAddress(path);
        int fd = LibC.Check(LibC.Socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0), "socket");
        while (LibC.Connect(fd, address, (uint)address.Length) == -1)
        {
            var e = SysException.FromLastError("connect", path);
            if (e.Errno == Errno.EINTR) continue;
            LibC.Close(fd);
            throw e;
        }
        return new UnixSocketStream(fd);
    }

    /// <summary>Half-closes: the daemon reads EOF (stdin ended) while replies keep arriving.</summary>
    public void ShutdownWrite()
    {
        bool added = false;
        _fd.DangerousAddRef(ref added);
        try
        {
            if (LibC.Shutdown((int)_fd.DangerousGetHandle(), LibC.SHUT_WR) == -1) throw Failure("shutdown");
        }
        finally
        {
            if (added) _fd.DangerousRelease();
        }
    }

    public override int Read(Span<byte> buffer)
    {
        bool added = false;
        _fd.DangerousAddRef(ref added);
        try
        {
            while (true)
            {
                var n = LibC.Recv((int)_fd.DangerousGetHandle(), buffer, (nuint)buffer.Length, 0);
                if (n >= 0) return (int)n;
                ThrowUnlessInterrupted("recv");
            }
        }
        finally
        {
            if (added) _fd.DangerousRelease();
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        bool added = false;
        _fd.DangerousAddRef(ref added);
        try
        {
            while (buffer.Length > 0)
            {
                // MSG_NOSIGNAL: a daemon that hung up is an error to report, not a SIGPIPE.
                var n = LibC.Send((int)_fd.DangerousGetHandle(), buffer, (nuint)buffer.Length, LibC.MSG_NOSIGNAL);
                if (n >= 0) buffer = buffer[(int)n..];
                else ThrowUnlessInterrupted("send");
            }
        }
        finally
        {
            if (added) _fd.DangerousRelease();
        }
    }

    static void ThrowUnlessInterrupted(string call)
    {
        var e = Failure(call);
        if (((SysException)e.InnerException!).Errno != Errno.EINTR) throw e;
    }

    static IOException Failure(string call)
    {
        var e = SysException.FromLastError(call);
        return new IOException(e.Message, e);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Flush() { }
    public override bool CanRead => !_fd.IsClosed;
    public override bool CanWrite => !_fd.IsClosed;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _fd.Dispose();
        base.Dispose(disposing);
    }
}
