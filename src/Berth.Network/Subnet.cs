using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Berth.Network;

/// <summary>An IPv4 prefix (172.31.0.0/16) with the arithmetic IPAM and the firewall need.</summary>
public readonly record struct Subnet(IPAddress Network, int PrefixLength)
{
    public static Subnet Parse(string cidr)
    {
        var slash = cidr.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var ip) || ip.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(cidr[(slash + 1)..], out var len) || len is < 0 or > 32)
            throw new FormatException($"invalid CIDR address: {cidr}");
        return new Subnet(FromUInt(ToUInt(ip) & Mask(len)), len);
    }

    /// <summary>Parses "a.b.c.d/len" keeping the host part (as --bip gives the bridge's own address).</summary>
    public static (IPAddress Address, Subnet Subnet) ParseHost(string cidr)
    {
        var s = Parse(cidr);
        return (IPAddress.Parse(cidr[..cidr.IndexOf('/')]), s);
    }

    public static uint ToUInt(IPAddress a) => BinaryPrimitives.ReadUInt32BigEndian(a.GetAddressBytes());
    public static IPAddress FromUInt(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return new IPAddress(b);
    }

    static uint Mask(int len) => len == 0 ? 0 : uint.MaxValue << (32 - len);

    public uint First => ToUInt(Network);
    public uint Last => First | ~Mask(PrefixLength);
    public ulong Size => 1UL << (32 - PrefixLength);

    public bool Contains(IPAddress a) => a.AddressFamily == AddressFamily.InterNetwork && (ToUInt(a) & Mask(PrefixLength)) == First;
    public bool Contains(Subnet other) => other.PrefixLength >= PrefixLength && Contains(other.Network);
    public bool Overlaps(Subnet other) => Contains(other) || other.Contains(this);

    /// <summary>The n-th address of the prefix (1 = the usual gateway).</summary>
    public IPAddress At(uint n) => FromUInt(First + n);

    public static IPAddress Broadcast(IPAddress a, int prefixLength) => FromUInt((ToUInt(a) & Mask(prefixLength)) | ~Mask(prefixLength));

    public override string ToString() => $"{Network}/{PrefixLength}";
}
