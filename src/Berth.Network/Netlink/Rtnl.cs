using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Berth.Interop;

namespace Berth.Network.Netlink;

/// <summary>A link as an RTM_GETLINK dump reports it.</summary>
public sealed record LinkInfo(int Index, string Name, string? Kind, int Master, int Mtu, PhysicalAddress? Mac, bool Up);

/// <summary>A route of the main table: destination prefix (0.0.0.0/0 for the default route) and device.</summary>
public sealed record RouteInfo(IPAddress Destination, int PrefixLength, int OutIndex);

/// <summary>
/// An rtnetlink (NETLINK_ROUTE) socket: links, addresses and routes of the network namespace it
/// was opened in. The socket stays bound to that namespace for its life, whichever thread uses
/// it, so <see cref="OpenIn"/> opens one for a container's namespace from a short-lived thread and
/// the caller then drives it from anywhere. Not thread-safe: one request at a time.
/// </summary>
public sealed class Rtnl : IDisposable
{
    const ushort NLMSG_ERROR = 2, NLMSG_DONE = 3;
    const ushort NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_ROOT = 0x100, NLM_F_MATCH = 0x200, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
    const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_NEWROUTE = 24, RTM_GETROUTE = 26;
    const ushort IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_MASTER = 10, IFLA_LINKINFO = 18, IFLA_NET_NS_FD = 28;
    const ushort IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, VETH_INFO_PEER = 1;
    const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_BROADCAST = 4;
    const ushort RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5;
    const uint IFF_UP = 1;
    const byte RT_TABLE_MAIN = 254, RTPROT_BOOT = 3, RT_SCOPE_UNIVERSE = 0, RTN_UNICAST = 1;
    const byte IFA_F_NODAD = 0x02;
    const byte AF_INET6 = 10;

    readonly int _fd;
    uint _seq;
    readonly byte[] _rx = new byte[64 * 1024];

    Rtnl(int fd) => _fd = fd;

    /// <summary>An rtnetlink socket in the calling thread's network namespace.</summary>
    public static Rtnl Open()
    {
        int fd = LibC.Check(LibC.Socket(LibC.AF_NETLINK, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC, LibC.NETLINK_ROUTE), "socket", "NETLINK_ROUTE");
        // struct sockaddr_nl: family, pad, pid (0: the kernel assigns one), groups.
        Span<byte> addr = stackalloc byte[12];
        addr.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(addr, LibC.AF_NETLINK);
        if (LibC.Bind(fd, addr, 12) == -1)
        {
            var e = SysException.FromLastError("bind", "NETLINK_ROUTE");
            LibC.Close(fd);
            throw e;
        }
        return new Rtnl(fd);
    }

    /// <summary>An rtnetlink socket in the network namespace at <paramref name="netnsPath"/> (e.g. /proc/PID/ns/net).</summary>
    public static Rtnl OpenIn(string netnsPath) => Dns.NetworkNamespace.Run(netnsPath, Open);

    public void Dispose() => LibC.Close(_fd);

    // ---- links ----

    public void CreateBridge(string name, int mtu = 0)
    {
        var m = new NetlinkMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).IfInfo().Attr(IFLA_IFNAME, name);
        if (mtu > 0) m.Attr(IFLA_MTU, (uint)mtu);
        m.BeginNest(IFLA_LINKINFO).Attr(IFLA_INFO_KIND, "bridge").EndNest();
        Call(m, $"create bridge {name}");
    }

    /// <summary>
    /// A veth pair <paramref name="name"/> ↔ <paramref name="peer"/>. With <paramref name="peerNetnsFd"/>
    /// the peer is born inside that namespace, so it never appears on the host under its temporary name.
    /// With <paramref name="masterIndex"/> and <paramref name="up"/> the first end is also enslaved and
    /// brought up by the same request: every rtnetlink request takes the kernel's global RTNL lock,
    /// which is contended on a busy host, so a container's start pays for one request instead of
    /// four. The peer stays down: the kernel configures it before the pair is joined, and a veth
    /// without its peer refuses to come up (ENOTCONN).
    /// </summary>
    public void CreateVeth(string name, string peer, int mtu = 0, int peerNetnsFd = -1, PhysicalAddress? peerMac = null, int masterIndex = 0, bool up = false)
    {
        uint flags = up ? IFF_UP : 0;
        var m = new NetlinkMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).IfInfo(0, flags, flags).Attr(IFLA_IFNAME, name);
        if (mtu > 0) m.Attr(IFLA_MTU, (uint)mtu);
        if (masterIndex > 0) m.Attr(IFLA_MASTER, (uint)masterIndex);
        m.BeginNest(IFLA_LINKINFO).Attr(IFLA_INFO_KIND, "veth").BeginNest(IFLA_INFO_DATA).BeginNest(VETH_INFO_PEER)
            .IfInfo().Attr(IFLA_IFNAME, peer);
        if (mtu > 0) m.Attr(IFLA_MTU, (uint)mtu);
        if (peerNetnsFd >= 0) m.Attr(IFLA_NET_NS_FD, (uint)peerNetnsFd);
        if (peerMac is not null) m.Attr(IFLA_ADDRESS, peerMac.GetAddressBytes());
        m.EndNest().EndNest().EndNest();
        Call(m, $"create veth {name}");
    }

    public void DeleteLink(int index) =>
        Call(new NetlinkMessage(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK).IfInfo(index), $"delete link {index}");

    /// <summary>Deletes the link called <paramref name="name"/>; false when there is none.</summary>
    public bool DeleteLink(string name)
    {
        // The kernel finds the link by name itself: one request, no lookup first.
        try { Call(new NetlinkMessage(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK).IfInfo().Attr(IFLA_IFNAME, name), $"delete link {name}"); }
        catch (SysException e) when (e.Errno == Errno.ENODEV) { return false; }
        return true;
    }

    public void SetUp(int index, bool up = true) =>
        Call(new NetlinkMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).IfInfo(index, up ? IFF_UP : 0, IFF_UP), $"set link {index} {(up ? "up" : "down")}");

    public void SetMtu(int index, int mtu) =>
        Call(new NetlinkMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).IfInfo(index).Attr(IFLA_MTU, (uint)mtu), $"set link {index} mtu");

    /// <summary>Enslaves the link to a bridge (<paramref name="masterIndex"/> 0 releases it).</summary>
    public void SetMaster(int index, int masterIndex) =>
        Call(new NetlinkMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).IfInfo(index).Attr(IFLA_MASTER, (uint)masterIndex), $"set link {index} master");

    public void MoveToNetns(int index, int netnsFd) =>
        Call(new NetlinkMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).IfInfo(index).Attr(IFLA_NET_NS_FD, (uint)netnsFd), $"move link {index} to netns");

    /// <summary>Renames a link; the kernel refuses while it is up.</summary>
    public void Rename(int index, string name) =>
        Call(new NetlinkMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).IfInfo(index).Attr(IFLA_IFNAME, name), $"rename link {index} to {name}");

    public LinkInfo? GetLink(string name)
    {
        try
        {
            return Links(new NetlinkMessage(RTM_GETLINK, NLM_F_REQUEST).IfInfo().Attr(IFLA_IFNAME, name), $"get link {name}").FirstOrDefault();
        }
        catch (SysException e) when (e.Errno is Errno.ENODEV) { return null; }
    }

    public LinkInfo RequireLink(string name) => GetLink(name) ?? throw new SysException("get link", name, Errno.ENODEV);

    public IReadOnlyList<LinkInfo> ListLinks() =>
        Links(new NetlinkMessage(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ROOT | NLM_F_MATCH).IfInfo(), "list links");

    List<LinkInfo> Links(NetlinkMessage request, string what)
    {
        var links = new List<LinkInfo>();
        foreach (var (type, payload) in Exchange(request, what))
        {
            if (type != RTM_NEWLINK || payload.Length < 16) continue;
            var s = payload.Span;
            int index = BinaryPrimitives.ReadInt32LittleEndian(s[4..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(s[8..]);
            var a = NetlinkAttrs.Parse(payload[16..]);
            string? kind = null;
            if (a.TryGetValue(IFLA_LINKINFO, out var li) && NetlinkAttrs.Parse(li).TryGetValue(IFLA_INFO_KIND, out var k)) kind = NetlinkAttrs.String(k);
            links.Add(new LinkInfo(index,
                a.TryGetValue(IFLA_IFNAME, out var n) ? NetlinkAttrs.String(n) : "",
                kind,
                a.TryGetValue(IFLA_MASTER, out var mst) ? BinaryPrimitives.ReadInt32LittleEndian(mst.Span) : 0,
                a.TryGetValue(IFLA_MTU, out var mtu) ? BinaryPrimitives.ReadInt32LittleEndian(mtu.Span) : 0,
                a.TryGetValue(IFLA_ADDRESS, out var mac) && mac.Length == 6 ? new PhysicalAddress(mac.ToArray()) : null,
                (flags & IFF_UP) != 0));
        }
        return links;
    }

    // ---- addresses and routes ----

    /// <summary>
    /// Adds an address. IPv6 ones skip duplicate address detection (IFA_F_NODAD), as Docker's do:
    /// the address is Berth's to give, and DAD would keep it tentative, unusable, for a second or two.
    /// </summary>
    public void AddAddress(int index, IPAddress address, int prefixLength)
    {
        var bytes = address.GetAddressBytes();
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        var m = new NetlinkMessage(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .IfAddr(Family(address), (byte)prefixLength, index, v6 ? IFA_F_NODAD : (byte)0).Attr(IFA_LOCAL, bytes).Attr(IFA_ADDRESS, bytes);
        if (address.AddressFamily == AddressFamily.InterNetwork && prefixLength < 31)
            m.Attr(IFA_BROADCAST, Subnet.Broadcast(address, prefixLength).GetAddressBytes());
        Call(m, $"add address {address}/{prefixLength}");
    }

    /// <summary>A route to <paramref name="destination"/>/<paramref name="prefixLength"/> (0.0.0.0/0: the default route) via a gateway and/or device.</summary>
    public void AddRoute(IPAddress destination, int prefixLength, IPAddress? gateway, int outIndex)
    {
        var m = new NetlinkMessage(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .RtMsg(Family(destination), (byte)prefixLength, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST);
        if (prefixLength > 0) m.Attr(RTA_DST, destination.GetAddressBytes());
        if (gateway is not null) m.Attr(RTA_GATEWAY, gateway.GetAddressBytes());
        if (outIndex > 0) m.Attr(RTA_OIF, (uint)outIndex);
        Call(m, $"add route {destination}/{prefixLength}");
    }

    /// <summary>The IPv4 (or, with <paramref name="ipv6"/>, IPv6) routes of the main table.</summary>
    public IReadOnlyList<RouteInfo> ListRoutes(bool ipv6 = false)
    {
        var routes = new List<RouteInfo>();
        byte family = ipv6 ? AF_INET6 : (byte)LibC.AF_INET;
        var req = new NetlinkMessage(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ROOT | NLM_F_MATCH).RtMsg(family, 0, 0, 0, 0, 0);
        foreach (var (type, payload) in Exchange(req, "list routes"))
        {
            if (type != RTM_NEWROUTE || payload.Length < 12) continue;
            var s = payload.Span;
            if (s[0] != family || s[4] != RT_TABLE_MAIN) continue;
            var a = NetlinkAttrs.Parse(payload[12..]);
            var dst = a.TryGetValue(RTA_DST, out var d) ? new IPAddress(d.Span) : ipv6 ? IPAddress.IPv6Any : IPAddress.Any;
            routes.Add(new RouteInfo(dst, s[1], a.TryGetValue(RTA_OIF, out var o) ? BinaryPrimitives.ReadInt32LittleEndian(o.Span) : 0));
        }
        return routes;
    }

    static byte Family(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? AF_INET6 : (byte)LibC.AF_INET;

    // ---- transport ----

    void Call(NetlinkMessage request, string what)
    {
        foreach (var _ in Exchange(request, what)) { }
    }

    /// <summary>
    /// Sends one request and collects its replies until the ACK (an NLMSG_ERROR carrying 0) or, for
    /// dumps, NLMSG_DONE. A negative error becomes a <see cref="SysException"/> naming <paramref name="what"/>.
    /// </summary>
    List<(ushort Type, ReadOnlyMemory<byte> Payload)> Exchange(NetlinkMessage request, string what)
    {
        uint seq = ++_seq;
        var msg = request.Finish(seq);
        if (LibC.Send(_fd, msg, (nuint)msg.Length, 0) < 0) throw SysException.FromLastError("netlink send", what);
        var replies = new List<(ushort, ReadOnlyMemory<byte>)>();
        while (true)
        {
            nint n;
            do n = LibC.Recv(_fd, _rx, (nuint)_rx.Length, 0);
            while (n < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Errno.EINTR);
            if (n < 0) throw SysException.FromLastError("netlink recv", what);
            int off = 0;
            while (off + NetlinkMessage.HeaderLength <= n)
            {
                var h = _rx.AsSpan(off);
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(h);
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(h[4..]);
                ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(h[6..]);
                uint rseq = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
                if (len < NetlinkMessage.HeaderLength || off + len > n) break;
                if (rseq == seq)
                {
                    if (type == NLMSG_DONE) return replies;
                    if (type == NLMSG_ERROR)
                    {
                        int err = BinaryPrimitives.ReadInt32LittleEndian(h[NetlinkMessage.HeaderLength..]);
                        if (err != 0) throw new SysException("netlink", what, -err);
                        return replies;
                    }
                    replies.Add((type, _rx.AsMemory(off + NetlinkMessage.HeaderLength, len - NetlinkMessage.HeaderLength).ToArray()));
                    // A non-dump reply (RTM_GETLINK by name) is a single message without DONE.
                    if ((flags & 2 /* NLM_F_MULTI */) == 0) return replies;
                }
                off += (len + 3) & ~3;
            }
        }
    }
}
