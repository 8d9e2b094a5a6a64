using System.Text;

namespace Berth.Daemon.Server.Http;

/// <summary>A request body of known length, read from the connection's buffered reader.</summary>
sealed class ContentLengthStream(BufferedConnection conn, long length) : ReadOnlyStream
{
    long _left = length;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_left == 0 || buffer.Length == 0) return 0;
        int n = await conn.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], ct);
        if (n == 0) throw new IOException("the client closed the connection before sending the whole body");
        _left -= n;
        return n;
    }

    public bool Complete => _left == 0;
}

/// <summary>A <c>Transfer-Encoding: chunked</c> request body.</summary>
sealed class ChunkedReadStream(BufferedConnection conn) : ReadOnlyStream
{
    long _chunkLeft;
    bool _done;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_done || buffer.Length == 0) return 0;
        if (_chunkLeft == 0)
        {
            var line = await conn.ReadLineAsync(ct) ?? throw new IOException("truncated chunked body");
            var sizeText = line.Split(';', 2)[0].Trim();
            if (!long.TryParse(sizeText, System.Globalization.NumberStyles.HexNumber, null, out _chunkLeft) || _chunkLeft < 0)
                throw new BadRequestException(400, "malformed chunk size in request body");
            if (_chunkLeft == 0)
            {
                // Trailers, then the empty line.
                while (!string.IsNullOrEmpty(await conn.ReadLineAsync(ct))) { }
                _done = true;
                return 0;
            }
        }
        int n = await conn.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _chunkLeft)], ct);
        if (n == 0) throw new IOException("truncated chunked body");
        _chunkLeft -= n;
        if (_chunkLeft == 0 && await conn.ReadLineAsync(ct) != "") throw new BadRequestException(400, "malformed chunk in request body");
        return n;
    }

    public bool Complete => _done;
}

/// <summary>A streamed response: each write becomes one chunk, sent at once.</summary>
sealed class ChunkedWriteStream(Stream inner) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.Length == 0) return;
        var header = Encoding.ASCII.GetBytes(buffer.Length.ToString("x") + "\r\n");
        var frame = new byte[header.Length + buffer.Length + 2];
        header.CopyTo(frame, 0);
        buffer.CopyTo(frame.AsMemory(header.Length));
        frame[^2] = (byte)'\r';
        frame[^1] = (byte)'\n';
        await inner.WriteAsync(frame, ct);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, default).GetAwaiter().GetResult();
    public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
    public override void Flush() => inner.Flush();

    public Task EndAsync() => inner.WriteAsync("0\r\n\r\n"u8.ToArray()).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>Base for the read-only body streams.</summary>
abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>An empty request body.</summary>
sealed class EmptyStream : ReadOnlyStream
{
    public static readonly EmptyStream Instance = new();
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(0);
}
