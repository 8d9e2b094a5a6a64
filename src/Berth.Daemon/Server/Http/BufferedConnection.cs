using System.Net.Sockets;
using System.Text;

namespace Berth.Daemon.Server.Http;

/// <summary>
/// One client connection with a read buffer: request heads are read line by line, bodies and
/// hijacked streams take what is buffered first. Half-closes are kept apart from closes, which
/// Docker's attach protocol depends on (the client shuts its write side and keeps reading).
/// </summary>
sealed class BufferedConnection(Socket socket, Stream stream) : IAsyncDisposable
{
    const int MaxLine = 64 * 1024;
    readonly byte[] _buffer = new byte[16 * 1024];
    int _start, _end;

    public Socket Socket { get; } = socket;
    public Stream Stream { get; } = stream;

    public async ValueTask<int> ReadAsync(Memory<byte> into, CancellationToken ct)
    {
        if (_start < _end)
        {
            int n = Math.Min(into.Length, _end - _start);
            _buffer.AsMemory(_start, n).CopyTo(into);
            _start += n;
            return n;
        }
        return await Stream.ReadAsync(into, ct);
    }

    async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length) return true;
        int n = await Stream.ReadAsync(_buffer.AsMemory(_end), ct);
        _end += n;
        return n > 0;
    }

    /// <summary>One line without its CRLF; null at end of stream before any byte.</summary>
    public async ValueTask<string?> ReadLineAsync(CancellationToken ct)
    {
        var line = new MemoryStream();
        while (true)
        {
            int nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (nl >= 0)
            {
                line.Write(_buffer, _start, nl - _start);
                _start = nl + 1;
                var bytes = line.ToArray();
                int len = bytes.Length > 0 && bytes[^1] == '\r' ? bytes.Length - 1 : bytes.Length;
                return Encoding.Latin1.GetString(bytes, 0, len);
            }
            line.Write(_buffer, _start, _end - _start);
            _start = _end;
            if (line.Length > MaxLine) throw new BadRequestException(431, "request header line too long");
            if (!await FillAsync(ct))
                return line.Length == 0 ? null : throw new IOException("connection closed in the middle of a line");
        }
    }

    /// <summary>The connection as a raw duplex stream after a hijack, buffered bytes first.</summary>
    public Stream Hijack() => new HijackedStream(this);

    public async ValueTask DisposeAsync()
    {
        try { await Stream.DisposeAsync(); } catch (IOException) { }
        Socket.Dispose();
    }

    sealed class HijackedStream(BufferedConnection conn) : Stream
    {
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => conn.ReadAsync(buffer, ct);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => conn.ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
        public override int Read(byte[] buffer, int offset, int count) => conn.ReadAsync(buffer.AsMemory(offset, count), default).AsTask().GetAwaiter().GetResult();
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => conn.Stream.WriteAsync(buffer, ct);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => conn.Stream.WriteAsync(buffer, offset, count, ct);
        public override void Write(byte[] buffer, int offset, int count) => conn.Stream.Write(buffer, offset, count);
        public override Task FlushAsync(CancellationToken ct) => conn.Stream.FlushAsync(ct);
        public override void Flush() => conn.Stream.Flush();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
