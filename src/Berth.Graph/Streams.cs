using System.IO.Compression;
using System.Security.Cryptography;

namespace Berth.Graph;

/// <summary>
/// Read-side stream stages for the single streaming pass over a layer: raw bytes are copied to a blob
/// (<see cref="TeeStream"/>), decompressed (<see cref="Decompression"/>) and hashed into the diff id
/// (<see cref="HashingStream"/>) while the tar reader pulls from the end of the chain.
/// </summary>
public abstract class ReadOnlyPassThrough(Stream inner) : Stream
{
    protected Stream Inner { get; } = inner;
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = Inner.Read(buffer);
        if (n > 0) OnRead(buffer[..n]);
        return n;
    }

    protected abstract void OnRead(ReadOnlySpan<byte> data);

    /// <summary>Reads to the end so every byte passes through the stage (a tar's trailing padding, say).</summary>
    public void Drain()
    {
        Span<byte> buf = stackalloc byte[8192];
        while (Read(buf) > 0) { }
    }
}

public sealed class HashingStream(Stream inner) : ReadOnlyPassThrough(inner)
{
    readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    public long BytesRead { get; private set; }

    protected override void OnRead(ReadOnlySpan<byte> data)
    {
        _hash.AppendData(data);
        BytesRead += data.Length;
    }

    public string Digest() => "sha256:" + Convert.ToHexStringLower(_hash.GetCurrentHash());

    protected override void Dispose(bool disposing)
    {
        if (disposing) _hash.Dispose();
        base.Dispose(disposing);
    }
}

public sealed class TeeStream(Stream inner, Stream sink) : ReadOnlyPassThrough(inner)
{
    protected override void OnRead(ReadOnlySpan<byte> data) => sink.Write(data);
}

/// <summary>Picks the decompressor from the first bytes, without buffering more than the magic.</summary>
public static class Decompression
{
    public enum Kind { None, Gzip, Zstd }

    public static Stream Open(Stream raw, out Kind kind)
    {
        var head = new byte[6];
        int n = 0, r;
        while (n < head.Length && (r = raw.Read(head, n, head.Length - n)) > 0) n += r;
        var prefixed = new PrefixedStream(head.AsMemory(0, n), raw);
        var h = head.AsSpan(0, n);
        if (h.StartsWith((ReadOnlySpan<byte>)[0x1f, 0x8b]))
        {
            kind = Kind.Gzip;
            return new GZipStream(prefixed, CompressionMode.Decompress);
        }
        if (h.StartsWith((ReadOnlySpan<byte>)[0x28, 0xb5, 0x2f, 0xfd]))
        {
            kind = Kind.Zstd;
            return new ZstdSharp.DecompressionStream(prefixed);
        }
        if (h.StartsWith((ReadOnlySpan<byte>)[0xfd, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0]))
            throw new InvalidDataException("unsupported layer compression: xz (use gzip, zstd or an uncompressed tar)");
        if (h.StartsWith("BZh"u8))
            throw new InvalidDataException("unsupported layer compression: bzip2 (use gzip, zstd or an uncompressed tar)");
        kind = Kind.None;
        return prefixed;
    }

    sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : ReadOnlyPassThrough(inner)
    {
        ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty) return Inner.Read(buffer);
            int n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        protected override void OnRead(ReadOnlySpan<byte> data) { }
    }
}
