using System.Text;

namespace Berth.Cli.Transport;

/// <summary>
/// Reads a connection through one buffer, so the bytes that arrive after the response headers
/// (the start of a body, or of a hijacked stream) are handed to whichever reader comes next.
/// </summary>
internal sealed class BufferedReader
{
    readonly Stream _inner;
    readonly byte[] _buf = new byte[16 * 1024];
    int _pos, _len;

    public BufferedReader(Stream inner) => _inner = inner;

    /// <summary>One line without its CRLF (or LF); null at EOF before any byte.</summary>
    public async ValueTask<string?> ReadLineAsync(CancellationToken ct)
    {
        var line = new List<byte>(128);
        while (true)
        {
            if (_pos == _len && !await FillAsync(ct))
                return line.Count == 0 ? null : Encoding.Latin1.GetString(line.ToArray());
            int nl = Array.IndexOf(_buf, (byte)'\n', _pos, _len - _pos);
            if (nl < 0)
            {
                line.AddRange(_buf.AsSpan(_pos, _len - _pos));
                _pos = _len;
                if (line.Count > 64 * 1024) throw new InvalidDataException("HTTP header line too long");
                continue;
            }
            line.AddRange(_buf.AsSpan(_pos, nl - _pos));
            _pos = nl + 1;
            if (line.Count > 0 && line[^1] == '\r') line.RemoveAt(line.Count - 1);
            return Encoding.Latin1.GetString(line.ToArray());
        }
    }

    public async ValueTask<int> ReadAsync(Memory<byte> dest, CancellationToken ct)
    {
        if (dest.Length == 0) return 0;
        if (_pos == _len)
        {
            // Large reads bypass the buffer; nothing is pending in it.
            if (dest.Length >= _buf.Length) return await _inner.ReadAsync(dest, ct);
            if (!await FillAsync(ct)) return 0;
        }
        int n = Math.Min(dest.Length, _len - _pos);
        _buf.AsMemory(_pos, n).CopyTo(dest);
        _pos += n;
        return n;
    }

    async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        _pos = 0;
        _len = await _inner.ReadAsync(_buf, ct);
        return _len > 0;
    }
}

/// <summary>Read-only stream base for response bodies.</summary>
internal abstract class BodyStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
}

internal sealed class ContentLengthStream(BufferedReader reader, long length) : BodyStream
{
    long _remaining = length;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_remaining == 0) return 0;
        int n = await reader.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], ct);
        if (n == 0) throw new IOException("unexpected EOF in response body");
        _remaining -= n;
        return n;
    }
}

internal sealed class UntilCloseStream(BufferedReader reader) : BodyStream
{
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => reader.ReadAsync(buffer, ct);
}

/// <summary>Decodes <c>Transfer-Encoding: chunked</c>; trailers are read and dropped.</summary>
internal sealed class ChunkedStream(BufferedReader reader) : BodyStream
{
    long _chunkLeft;
    bool _done;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_done || buffer.Length == 0) return 0;
        if (_chunkLeft == 0)
        {
            var line = await reader.ReadLineAsync(ct) ?? throw new IOException("unexpected EOF in chunked body");
            int semi = line.IndexOf(';');
            var hex = (semi >= 0 ? line[..semi] : line).Trim();
            if (!long.TryParse(hex, System.Globalization.NumberStyles.AllowHexSpecifier, null, out _chunkLeft) || _chunkLeft < 0)
                throw new InvalidDataException($"invalid chunk size line \"{line}\"");
            if (_chunkLeft == 0)
            {
                while (!string.IsNullOrEmpty(await reader.ReadLineAsync(ct))) { }
                _done = true;
                return 0;
            }
        }
        int n = await reader.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _chunkLeft)], ct);
        if (n == 0) throw new IOException("unexpected EOF in chunked body");
        _chunkLeft -= n;
        if (_chunkLeft == 0 && await reader.ReadLineAsync(ct) is not "")
            throw new InvalidDataException("missing CRLF after chunk");
        return n;
    }
}
