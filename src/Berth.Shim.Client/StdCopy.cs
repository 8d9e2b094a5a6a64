using System.Buffers.Binary;

namespace Berth.Shim.Client;

/// <summary>Stream ids of Docker's multiplexed framing.</summary>
public enum StdStream : byte
{
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    SystemErr = 3,
}

/// <summary>
/// Docker's multiplexed stream framing for non-tty output: an 8-byte header (stream byte, three zero bytes,
/// big-endian uint32 payload length) in front of each chunk. Used by attach and by the daemon's logs.
/// </summary>
public static class StdCopy
{
    public const int HeaderSize = 8;

    public static void WriteHeader(Span<byte> header, StdStream stream, int length)
    {
        header[0] = (byte)stream;
        header[1] = header[2] = header[3] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], checked((uint)length));
    }

    /// <summary>One frame as a single buffer, so it goes out with one write and frames never interleave.</summary>
    public static byte[] Frame(StdStream stream, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[HeaderSize + payload.Length];
        WriteHeader(frame, stream, payload.Length);
        payload.CopyTo(frame.AsSpan(HeaderSize));
        return frame;
    }

    /// <summary>Reads the next frame; null at a clean EOF between frames.</summary>
    public static async Task<(StdStream Stream, byte[] Payload)?> ReadFrameAsync(Stream input, CancellationToken ct = default)
    {
        var header = new byte[HeaderSize];
        int got = await ReadFullyAsync(input, header, ct).ConfigureAwait(false);
        if (got == 0) return null;
        if (got < HeaderSize) throw new EndOfStreamException("truncated frame header");
        if (header[0] > (byte)StdStream.SystemErr) throw new InvalidDataException($"unrecognized stream type {header[0]}");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
        if (length > int.MaxValue) throw new InvalidDataException("frame too large");
        var payload = new byte[length];
        if (await ReadFullyAsync(input, payload, ct).ConfigureAwait(false) < payload.Length)
            throw new EndOfStreamException("truncated frame payload");
        return ((StdStream)header[0], payload);
    }

    static async Task<int> ReadFullyAsync(Stream input, Memory<byte> buffer, CancellationToken ct)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await input.ReadAsync(buffer[total..], ct).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
