using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Berth.Network;

/// <summary>
/// An IPv4 or IPv6 prefix (172.31.0.0/16, fd12:3456:789a:1::/64) with the arithmetic IPAM and
/// the firewall need. Addresses are handled as 128-bit numbers whatever their family, so one
/// allocator serves both.
/// </summary>
public readonly record struct Subnet(IPAddress Network, int PrefixLength)
{
    /// <summary>Parses either family; host bits are masked off, as Go's net.ParseCIDR does.</summary>
    public static Subnet Parse(string cidr)
    {
        var slash = cidr.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var ip) || ip.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            || !int.TryParse(cidr[(slash + 1)..], out var len) || len < 0 || len > BitsOf(ip))
            throw new FormatException($"invalid CIDR address: {cidr}");
        return new Subnet(FromNumber(ToNumber(ip) & Mask(len, BitsOf(ip)), ip.AddressFamily), len);
    }

    /// <summary>Parses an IPv4 prefix only; an IPv6 one is refused with a message naming what was expected.</summary>
    public static Subnet ParseV4(string cidr)
    {
        var s = Parse(cidr);
        return s.IsV6 ? throw new FormatException($"invalid IPv4 CIDR address: {cidr} is an IPv6 prefix") : s;
    }

    /// <summary>Parses an IPv6 prefix only; an IPv4 one is refused with a message naming what was expected.</summary>
    public static Subnet ParseV6(string cidr)
    {
        var s = Parse(cidr);
        return s.IsV6 ? s : throw new FormatException($"invalid IPv6 CIDR address: {cidr} is an IPv4 prefix");
    }

    /// <summary>Parses "a.b.c.d/len" keeping the host part (as --bip gives the bridge's own address).</summary>
    public static (IPAddress Address, Subnet Subnet) ParseHost(string cidr)
    {
        var s = ParseV4(cidr);
        return (IPAddress.Parse(cidr[..cidr.IndexOf('/')]), s);
    }

    public bool IsV6 => Network.AddressFamily == AddressFamily.InterNetworkV6;
    int Bits => IsV6 ? 128 : 32;
    static int BitsOf(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;

    public static UInt128 ToNumber(IPAddress a)
    {
        Span<byte> b = stackalloc byte[16];
        a.TryWriteBytes(b, out int n);
        return n == 4 ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt128BigEndian(b);
    }

    public static IPAddress FromNumber(UInt128 v, AddressFamily family)
    {
        if (family == AddressFamily.InterNetwork)
        {
            var b4 = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b4, (uint)v);
            return new IPAddress(b4);
        }
        var b = new byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, v);
        return new IPAddress(b);
    }

    static UInt128 Mask(int len, int bits) => len == 0 ? UInt128.Zero : (UInt128.MaxValue << (128 - len)) >> (128 - bits);

    public UInt128 First => ToNumber(Network);
    public UInt128 Last => First | (Mask(Bits, Bits) & ~Mask(PrefixLength, Bits));

    public bool Contains(IPAddress a) => a.AddressFamily == Network.AddressFamily && (ToNumber(a) & Mask(PrefixLength, Bits)) == First;
    public bool Contains(Subnet other) => other.PrefixLength >= PrefixLength && Contains(other.Network);
    public bool Overlaps(Subnet other) => Contains(other) || other.Contains(this);

    /// <summary>The n-th address of the prefix (1 = the usual gateway).</summary>
    public IPAddress At(ulong n) => FromNumber(First + n, Network.AddressFamily);

    /// <summary>The n-th prefix of length <paramref name="length"/> inside this one (a /64 of a /48).</summary>
    public Subnet Nth(int length, ulong n) => new(FromNumber(First + ((UInt128)n << (Bits - length)), Network.AddressFamily), length);

    public static IPAddress Broadcast(IPAddress a, int prefixLength) =>
        FromNumber((ToNumber(a) & Mask(prefixLength, 32)) | (uint.MaxValue & ~Mask(prefixLength, 32)), AddressFamily.InterNetwork);

    public override string ToString() => $"{Network}/{PrefixLength}";
}
