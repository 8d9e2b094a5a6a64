using System.Text;

namespace Berth.Graph.Archive;

/// <summary>
/// Writes the plain ustar entries of an image archive (directories and files with known sizes) straight to an
/// unseekable stream. System.Formats.Tar's writer buffers an unseekable entry body in memory to learn its
/// length; a layer can be gigabytes, and here the length is known up front.
/// </summary>
internal sealed class UstarWriter(Stream output)
{
    const int Block = 512;
    static readonly byte[] Zeros = new byte[Block * 2];

    public Task DirectoryAsync(string name, CancellationToken ct) =>
        output.WriteAsync(Header(name.TrimEnd('/') + "/", 0, (byte)'5', 0x1ed), ct).AsTask();

    public async Task FileAsync(string name, long size, Stream data, CancellationToken ct)
    {
        await output.WriteAsync(Header(name, size, (byte)'0', 0x1a4), ct).ConfigureAwait(false);
        var buf = new byte[1 << 17];
        long left = size;
        while (left > 0)
        {
            int n = await data.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, left)), ct).ConfigureAwait(false);
            if (n == 0) throw new InvalidDataException($"{name} ended {left} bytes short of its recorded size {size}");
            await output.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
            left -= n;
        }
        int pad = (int)((Block - size % Block) % Block);
        if (pad > 0) await output.WriteAsync(Zeros.AsMemory(0, pad), ct).ConfigureAwait(false);
    }

    public Task FileAsync(string name, byte[] data, CancellationToken ct) => FileAsync(name, data.Length, new MemoryStream(data), ct);

    /// <summary>The two zero blocks that end a tar.</summary>
    public Task FinishAsync(CancellationToken ct) => output.WriteAsync(Zeros, ct).AsTask();

    static byte[] Header(string name, long size, byte type, int mode)
    {
        var h = new byte[Block];
        var nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > 100) throw new ArgumentException($"archive entry name too long for ustar: {name}");
        nameBytes.CopyTo(h, 0);
        Octal(h.AsSpan(100, 8), mode);
        Octal(h.AsSpan(108, 8), 0);
        Octal(h.AsSpan(116, 8), 0);
        if (size < 1L << 33) Octal(h.AsSpan(124, 12), size);
        else
        {
            // GNU base-256: the high bit of the first byte marks a big-endian binary size.
            h[124] = 0x80;
            for (int i = 0; i < 8; i++) h[135 - i] = (byte)(size >> (8 * i));
        }
        Octal(h.AsSpan(136, 12), 0);
        h[156] = type;
        "ustar\0"u8.CopyTo(h.AsSpan(257));
        "00"u8.CopyTo(h.AsSpan(263));
        h.AsSpan(148, 8).Fill((byte)' ');
        long sum = 0;
        foreach (var b in h) sum += b;
        Octal(h.AsSpan(148, 7), sum);
        return h;
    }

    /// <summary>Zero-padded octal filling all but the field's last byte, which stays NUL.</summary>
    static void Octal(Span<byte> field, long value)
    {
        string s = Convert.ToString(value, 8).PadLeft(field.Length - 1, '0');
        Encoding.ASCII.GetBytes(s, field);
    }
}
