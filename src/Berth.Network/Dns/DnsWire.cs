using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Berth.Network.Dns;

/// <summary>
/// The slice of the DNS wire format (RFC 1035 §4, EDNS0 from RFC 6891) that the embedded
/// server needs: reading a query's header, question and EDNS payload size, and writing
/// answers. Every read is bounds-checked and every name walk is bounded, because the input
/// comes from whatever runs in a container: a hostile packet yields FORMERR or is dropped,
/// never an exception or a loop.
/// </summary>
internal static class DnsWire
{
    public const int HeaderSize = 12, MaxNameLength = 255, MaxLabelLength = 63, ClassicUdpSize = 512;
    public const int MaxEdnsUdpSize = 4096;
    public const uint DockerTtl = 600;

    // Header layout: id, flags, then the four section counts, each a big-endian u16.
    const int IdAt = 0, FlagsAt = 2, QdCountAt = 4, AnCountAt = 6, NsCountAt = 8, ArCountAt = 10;
    const ushort FlagQr = 0x8000, FlagAa = 0x0400, FlagTc = 0x0200, FlagRd = 0x0100, FlagRa = 0x0080;
    const ushort ClassIn = 1;

    public static ushort Id(ReadOnlySpan<byte> msg) => BinaryPrimitives.ReadUInt16BigEndian(msg[IdAt..]);
    public static bool IsResponse(ReadOnlySpan<byte> msg) => (Flags(msg) & FlagQr) != 0;
    public static bool IsTruncated(ReadOnlySpan<byte> msg) => (Flags(msg) & FlagTc) != 0;
    public static DnsRcode Rcode(ReadOnlySpan<byte> msg) => (DnsRcode)(Flags(msg) & 0xF);
    public static int AnswerCount(ReadOnlySpan<byte> msg) => BinaryPrimitives.ReadUInt16BigEndian(msg[AnCountAt..]);
    static ushort Flags(ReadOnlySpan<byte> msg) => BinaryPrimitives.ReadUInt16BigEndian(msg[FlagsAt..]);
    static int Opcode(ushort flags) => (flags >> 11) & 0xF;

    /// <summary>
    /// Parses a query. <see cref="QueryParse.Drop"/> means no reply at all is possible or wise
    /// (shorter than a header, or a response: answering responses invites reflection loops).
    /// </summary>
    public static QueryParse TryParseQuery(ReadOnlySpan<byte> msg, out DnsQuery query)
    {
        query = default;
        if (msg.Length < HeaderSize) return QueryParse.Drop;
        ushort flags = Flags(msg);
        if ((flags & FlagQr) != 0) return QueryParse.Drop;
        query = new DnsQuery(Id(msg), flags, default, HeaderSize, ClassicUdpSize);
        if (Opcode(flags) != 0) return QueryParse.NotImplemented;
        if (BinaryPrimitives.ReadUInt16BigEndian(msg[QdCountAt..]) != 1) return QueryParse.FormatError;

        int offset = HeaderSize;
        if (!TryReadName(msg, ref offset, out var name) || offset + 4 > msg.Length) return QueryParse.FormatError;
        var question = new DnsQuestion(name,
            (DnsType)BinaryPrimitives.ReadUInt16BigEndian(msg[offset..]),
            BinaryPrimitives.ReadUInt16BigEndian(msg[(offset + 2)..]));
        offset += 4;
        int questionEnd = offset;

        // Skip answer and authority records (normally none in a query), then look for OPT.
        int maxUdp = ClassicUdpSize;
        int skip = BinaryPrimitives.ReadUInt16BigEndian(msg[AnCountAt..]) + BinaryPrimitives.ReadUInt16BigEndian(msg[NsCountAt..]);
        int additional = BinaryPrimitives.ReadUInt16BigEndian(msg[ArCountAt..]);
        for (int i = 0; i < skip + additional; i++)
        {
            if (!TryReadName(msg, ref offset, out _) || offset + 10 > msg.Length) return QueryParse.FormatError;
            var type = (DnsType)BinaryPrimitives.ReadUInt16BigEndian(msg[offset..]);
            ushort rrClass = BinaryPrimitives.ReadUInt16BigEndian(msg[(offset + 2)..]);
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(msg[(offset + 8)..]);
            offset += 10 + rdLength;
            if (offset > msg.Length) return QueryParse.FormatError;
            if (i >= skip && type == DnsType.OPT) maxUdp = Math.Clamp((int)rrClass, ClassicUdpSize, MaxEdnsUdpSize);
        }
        query = query with { Question = question, QuestionEnd = questionEnd, MaxUdpResponse = maxUdp };
        return QueryParse.Ok;
    }

    /// <summary>
    /// Reads a possibly compressed name at <paramref name="offset"/> and moves it past the name's
    /// bytes in place. Pointers must point strictly backwards, which rules out loops; the decoded
    /// name is bounded at 255 wire bytes. Bytes outside letters, digits, '-' and '_' are written
    /// as \DDD so that a label with a '.' in it cannot pass for two labels.
    /// </summary>
    public static bool TryReadName(ReadOnlySpan<byte> msg, ref int offset, out string name)
    {
        name = "";
        var text = new StringBuilder();
        int pos = offset, wireLength = 1, end = -1;
        while (true)
        {
            if (pos >= msg.Length) return false;
            int length = msg[pos];
            if ((length & 0xC0) == 0xC0)
            {
                if (pos + 1 >= msg.Length) return false;
                int target = ((length & 0x3F) << 8) | msg[pos + 1];
                if (target < HeaderSize || target >= pos) return false;
                if (end < 0) end = pos + 2;
                pos = target;
                continue;
            }
            if ((length & 0xC0) != 0) return false; // the obsolete extended label types
            if (length == 0)
            {
                offset = end < 0 ? pos + 1 : end;
                name = text.ToString();
                return true;
            }
            wireLength += length + 1;
            if (wireLength > MaxNameLength || pos + 1 + length > msg.Length) return false;
            if (text.Length > 0) text.Append('.');
            foreach (byte b in msg.Slice(pos + 1, length))
            {
                if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_') text.Append((char)b);
                else text.Append('\\').Append(b.ToString("D3"));
            }
            pos += 1 + length;
        }
    }

    /// <summary>Writes <paramref name="name"/> (dotted, no escapes) uncompressed; false if it is not a valid DNS name or does not fit.</summary>
    public static bool TryWriteName(Span<byte> dest, string name, out int written)
    {
        written = 0;
        int limit = Math.Min(dest.Length - 1, MaxNameLength - 1);
        var dotted = name.EndsWith('.') ? name[..^1] : name;
        if (dotted.Length > 0)
        {
            foreach (var label in dotted.Split('.'))
            {
                if (label.Length is 0 or > MaxLabelLength || written + 1 + label.Length > limit) return false;
                dest[written++] = (byte)label.Length;
                foreach (char c in label)
                {
                    if (c > 0x7F) return false;
                    dest[written++] = (byte)c;
                }
            }
        }
        if (limit < 0) return false;
        dest[written++] = 0;
        return true;
    }

    /// <summary>
    /// Builds the reply to <paramref name="query"/>: the question echoed byte for byte (so the
    /// client's 0x20 case randomisation survives), then <paramref name="answers"/> with the
    /// owner name compressed to the question. Records that would exceed <paramref name="maxSize"/>
    /// are left out and TC is set, so the client retries over TCP.
    /// </summary>
    public static byte[] BuildReply(ReadOnlySpan<byte> queryMsg, in DnsQuery query, DnsRcode rcode,
        IReadOnlyList<DnsRecord> answers, int maxSize, bool authoritative = true)
    {
        bool hasQuestion = query.QuestionEnd > HeaderSize;
        var buffer = new byte[Math.Min(maxSize, 65535)];
        int length = query.QuestionEnd;
        if (length > buffer.Length) return HeaderOnly(query, DnsRcode.ServFail);
        queryMsg[HeaderSize..query.QuestionEnd].CopyTo(buffer.AsSpan(HeaderSize));

        int count = 0;
        bool truncated = false;
        foreach (var record in answers)
        {
            int rdataAt = length + 12;
            int rdLength = record.WriteData(buffer.AsSpan(Math.Min(rdataAt, buffer.Length)));
            if (rdLength < 0) { truncated = true; break; }
            var rr = buffer.AsSpan(length);
            BinaryPrimitives.WriteUInt16BigEndian(rr, (ushort)(0xC000 | HeaderSize));
            BinaryPrimitives.WriteUInt16BigEndian(rr[2..], (ushort)record.Type);
            BinaryPrimitives.WriteUInt16BigEndian(rr[4..], ClassIn);
            BinaryPrimitives.WriteUInt32BigEndian(rr[6..], DockerTtl);
            BinaryPrimitives.WriteUInt16BigEndian(rr[10..], (ushort)rdLength);
            length = rdataAt + rdLength;
            count++;
        }
        WriteHeader(buffer, query, rcode, hasQuestion ? 1 : 0, count, truncated, authoritative);
        return buffer.AsSpan(0, length).ToArray();
    }

    /// <summary>An error reply with no sections: for FORMERR, NOTIMP and SERVFAIL.</summary>
    public static byte[] HeaderOnly(in DnsQuery query, DnsRcode rcode)
    {
        var buffer = new byte[HeaderSize];
        WriteHeader(buffer, query, rcode, 0, 0, false, false);
        return buffer;
    }

    static void WriteHeader(Span<byte> buffer, in DnsQuery query, DnsRcode rcode, int qd, int an, bool truncated, bool authoritative)
    {
        ushort flags = (ushort)(FlagQr | (query.Flags & (0x7800 | FlagRd)) | FlagRa | (ushort)rcode);
        if (truncated) flags |= FlagTc;
        if (authoritative) flags |= FlagAa;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[IdAt..], query.Id);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[FlagsAt..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[QdCountAt..], (ushort)qd);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[AnCountAt..], (ushort)an);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[NsCountAt..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[ArCountAt..], 0);
    }

    /// <summary>
    /// The address a reverse name stands for (4.3.2.1.in-addr.arpa, or 32 nibbles under ip6.arpa),
    /// or null if the name is not a complete reverse name.
    /// </summary>
    public static IPAddress? ParseReverseName(string name)
    {
        var labels = name.ToLowerInvariant().Split('.');
        if (labels.Length == 6 && labels[4] == "in-addr" && labels[5] == "arpa")
        {
            var bytes = new byte[4];
            for (int i = 0; i < 4; i++)
            {
                if (labels[3 - i].Length is 0 or > 3 || !labels[3 - i].All(char.IsAsciiDigit) || !byte.TryParse(labels[3 - i], out bytes[i])) return null;
            }
            return new IPAddress(bytes);
        }
        if (labels.Length == 34 && labels[32] == "ip6" && labels[33] == "arpa")
        {
            var bytes = new byte[16];
            for (int i = 0; i < 32; i++)
            {
                var label = labels[31 - i];
                if (label.Length != 1 || !char.IsAsciiHexDigit(label[0])) return null;
                int nibble = Convert.ToInt32(label, 16);
                bytes[i / 2] |= (byte)(i % 2 == 0 ? nibble << 4 : nibble);
            }
            return new IPAddress(bytes);
        }
        return null;
    }
}

internal enum QueryParse { Ok, Drop, FormatError, NotImplemented }

public enum DnsType : ushort { A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28, SRV = 33, OPT = 41, ANY = 255 }

public enum DnsRcode : byte { NoError = 0, FormErr = 1, ServFail = 2, NXDomain = 3, NotImp = 4, Refused = 5 }

/// <param name="Name">Decoded, as sent (case kept), without the trailing dot; "" is the root.</param>
internal readonly record struct DnsQuestion(string Name, DnsType Type, ushort Class);

/// <param name="QuestionEnd">Offset just past the question, or the header size when there is none.</param>
/// <param name="MaxUdpResponse">512, or the client's EDNS0 payload size (capped at 4096).</param>
internal readonly record struct DnsQuery(ushort Id, ushort Flags, DnsQuestion Question, int QuestionEnd, int MaxUdpResponse);

/// <summary>One answer: an address (A/AAAA) or a name (PTR); the owner is always the question's name.</summary>
internal readonly record struct DnsRecord(DnsType Type, IPAddress? Address, string? Target)
{
    public static DnsRecord For(IPAddress address) =>
        new(address.AddressFamily == AddressFamily.InterNetworkV6 ? DnsType.AAAA : DnsType.A, address, null);

    public static DnsRecord Pointer(string target) => new(DnsType.PTR, null, target);

    /// <summary>Writes the RDATA; -1 if it does not fit.</summary>
    public int WriteData(Span<byte> dest)
    {
        if (Address is not null) return Address.TryWriteBytes(dest, out int n) ? n : -1;
        return DnsWire.TryWriteName(dest, Target!, out int written) ? written : -1;
    }
}
