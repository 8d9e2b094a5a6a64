using System.Net.Security;
using System.Net.Sockets;

namespace Berth.Cli.Transport;

/// <summary>
/// The raw duplex connection left after an attach/exec upgrade: reads continue from the
/// response reader's buffer, writes go straight to the socket, and <see cref="CloseWriteAsync"/>
/// half-closes so the daemon sees stdin EOF while output keeps flowing.
/// </summary>
public sealed class HijackedStream : Stream
{
    readonly Stream _conn;
    readonly BufferedReader _reader;

    internal HijackedStream(Stream conn, BufferedReader reader)
    {
        _conn = conn;
        _reader = reader;
    }

    public async Task CloseWriteAsync()
    {
        switch (_conn)
        {
            case NetworkStream ns:
                ns.Socket.Shutdown(SocketShutdown.Send);
                break;
            case SynchronousStream { Inner: UnixSocketStream unix }:
                unix.ShutdownWrite();
                break;
            case SslStream ssl:
                await ssl.ShutdownAsync();
                break;
        }
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => _conn.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _conn.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _reader.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    public override void Write(byte[] buffer, int offset, int count) => _conn.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _conn.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _conn.WriteAsync(buffer, offset, count, cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _conn.Dispose();
        base.Dispose(disposing);
    }
}
