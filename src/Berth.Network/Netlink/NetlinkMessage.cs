using System.Buffers.Binary;
using System.Text;

namespace Berth.Network.Netlink;

/// <summary>
/// Builds one rtnetlink request: the nlmsghdr, a fixed family header (ifinfomsg, ifaddrmsg or
/// rtmsg) and route attributes, nested where the kernel expects it. Every field is written
/// little-endian at its named offset, attributes padded to 4 bytes as NLMSG_ALIGN requires.
/// </summary>
internal sealed class NetlinkMessage
{
    public const int HeaderLength = 16;
    readonly List<byte> _buf = new(256);
    readonly Stack<int> _nests = new();

    public NetlinkMessage(ushort type, ushort flags)
    {
        _buf.AddRange(new byte[HeaderLength]);
        BinaryPrimitives.WriteUInt16LittleEndian(Span(4, 2), type);
        BinaryPrimitives.WriteUInt16LittleEndian(Span(6, 2), flags);
    }

    Span<byte> Span(int offset, int length) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_buf).Slice(offset, length);

    public NetlinkMessage Bytes(ReadOnlySpan<byte> data)
    {
        foreach (var b in data) _buf.Add(b);
        while (_buf.Count % 4 != 0) _buf.Add(0);
        return this;
    }

    /// <summary>struct ifinfomsg: family, pad, type, index, flags, change.</summary>
    public NetlinkMessage IfInfo(int index = 0, uint flags = 0, uint change = 0)
    {
        Span<byte> b = stackalloc byte[16];
        b.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], change);
        return Bytes(b);
    }

    /// <summary>struct ifaddrmsg: family, prefixlen, flags, scope, index.</summary>
    public NetlinkMessage IfAddr(byte family, byte prefixLength, int index, byte flags = 0)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        b[0] = family;
        b[1] = prefixLength;
        b[2] = flags;
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], index);
        return Bytes(b);
    }

    /// <summary>struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.</summary>
    public NetlinkMessage RtMsg(byte family, byte dstLength, byte table, byte protocol, byte scope, byte type)
    {
        Span<byte> b = stackalloc byte[12];
        b.Clear();
        b[0] = family;
        b[1] = dstLength;
        b[4] = table;
        b[5] = protocol;
        b[6] = scope;
        b[7] = type;
        return Bytes(b);
    }

    public NetlinkMessage Attr(ushort type, ReadOnlySpan<byte> value)
    {
        Span<byte> h = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(h, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(h[2..], type);
        foreach (var b in h) _buf.Add(b);
        return Bytes(value);
    }

    public NetlinkMessage Attr(ushort type, string value) => Attr(type, Encoding.ASCII.GetBytes(value + "\0"));

    public NetlinkMessage Attr(ushort type, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return Attr(type, b);
    }

    public NetlinkMessage BeginNest(ushort type)
    {
        _nests.Push(_buf.Count);
        return Attr(type, ReadOnlySpan<byte>.Empty);
    }

    public NetlinkMessage EndNest()
    {
        var start = _nests.Pop();
        BinaryPrimitives.WriteUInt16LittleEndian(Span(start, 2), (ushort)(_buf.Count - start));
        return this;
    }

    public byte[] Finish(uint seq)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(Span(0, 4), (uint)_buf.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(Span(8, 4), seq);
        return _buf.ToArray();
    }
}

/// <summary>Reads route attributes (struct rtattr) out of a reply's payload.</summary>
internal static class NetlinkAttrs
{
    public static Dictionary<ushort, ReadOnlyMemory<byte>> Parse(ReadOnlyMemory<byte> data)
    {
        var attrs = new Dictionary<ushort, ReadOnlyMemory<byte>>();
        int off = 0;
        var span = data.Span;
        while (off + 4 <= span.Length)
        {
            int len = BinaryPrimitives.ReadUInt16LittleEndian(span[off..]);
            ushort type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(span[(off + 2)..]) & 0x3fff); // without NLA_F_NESTED/NET_BYTEORDER
            if (len < 4 || off + len > span.Length) break;
            attrs[type] = data.Slice(off + 4, len - 4);
            off += (len + 3) & ~3;
        }
        return attrs;
    }

    public static string String(ReadOnlyMemory<byte> value) => Encoding.ASCII.GetString(value.Span).TrimEnd('\0');
}
