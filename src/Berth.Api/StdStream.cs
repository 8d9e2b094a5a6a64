using System.Buffers.Binary;

namespace Berth.Api;

/// <summary>
/// Docker's multiplexed stream framing (attach, logs and exec of non-tty containers): an 8-byte
/// header — stream id (0 stdin, 1 stdout, 2 stderr, 3 system error), three zero bytes, big-endian
/// payload length — then the payload.
/// </summary>
public static class StdStream
{
    public const byte Stdin = 0, Stdout = 1, Stderr = 2, SystemErr = 3;
    public const int HeaderSize = 8;

    public static void WriteHeader(Span<byte> header, byte stream, int length)
    {
        header[0] = stream;
        header[1] = header[2] = header[3] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], (uint)length);
    }

    public static async ValueTask WriteFrameAsync(Stream s, byte stream, ReadOnlyMemory<byte> payload, CancellationToken ct = default)
    {
        var header = new byte[HeaderSize];
        WriteHeader(header, stream, payload.Length);
        await s.WriteAsync(header, ct);
        await s.WriteAsync(payload, ct);
    }

    /// <summary>
    /// Reads frames from <paramref name="source"/> until EOF and copies each payload to stdout or
    /// stderr. A truncated or invalid header throws InvalidDataException.
    /// </summary>
    public static async Task DemuxAsync(Stream source, Stream stdout, Stream stderr, CancellationToken ct = default)
    {
        var header = new byte[HeaderSize];
        var buf = new byte[32 * 1024];
        while (true)
        {
            int got = await ReadFullAsync(source, header, ct);
            if (got == 0) return;
            if (got < HeaderSize) throw new InvalidDataException("truncated stream frame header");
            var target = header[0] switch
            {
                Stdin or Stdout => stdout,
                Stderr or SystemErr => stderr,
                _ => throw new InvalidDataException($"unrecognized stream id {header[0]}"),
            };
            long remaining = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
            while (remaining > 0)
            {
                int n = await source.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, remaining)), ct);
                if (n == 0) throw new InvalidDataException("truncated stream frame");
                await target.WriteAsync(buf.AsMemory(0, n), ct);
                remaining -= n;
            }
            await target.FlushAsync(ct);
        }
    }

    static async ValueTask<int> ReadFullAsync(Stream s, Memory<byte> buf, CancellationToken ct)
    {
        int total = 0;
        while (total < buf.Length)
        {
            int n = await s.ReadAsync(buf[total..], ct);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
