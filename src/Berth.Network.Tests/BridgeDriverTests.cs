using System.Net;
using System.Net.Sockets;
using Berth.Interop;
using Berth.Network.Bridge;
using Berth.Network.Netlink;

namespace Berth.Network.Tests;

/// <summary>
/// The bridge driver and the nftables firewall end to end, with a private namespace standing in
/// for the host and two more for containers; traffic never leaves them.
/// </summary>
public sealed class BridgeDriverTests : IDisposable
{
    readonly NetnsHandle _host;
    readonly NetnsHandle _a, _b;
    readonly BridgeDriver _driver;
    readonly NetworkRecord _net = new() { Id = "n1", Name = "t", BridgeName = "tbr", Subnet = "10.77.0.0/24", Gateway = "10.77.0.1", Mtu = 1500 };

    public BridgeDriverTests()
    {
        if (LibC.geteuid() != 0) Assert.Skip("needs root for network namespaces");
        _host = Netns.Create();
        _a = Netns.Create();
        _b = Netns.Create();
        using (var nl = Rtnl.OpenIn(_host.Path)) nl.SetUp(nl.RequireLink("lo").Index);
        _driver = new BridgeDriver(_host.Path);
    }

    public void Dispose()
    {
        _driver?.Dispose();
        _a?.Dispose();
        _b?.Dispose();
        _host?.Dispose();
    }

    static bool HasNft() => File.Exists("/usr/sbin/nft") || File.Exists("/usr/bin/nft");

    static Socket ListenIn(string ns, int port, bool ipv6 = false) => Dns.NetworkNamespace.Run(ns, () =>
    {
        var s = new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(ipv6 ? IPAddress.IPv6Any : IPAddress.Any, port));
        s.Listen();
        return s;
    });

    static bool CanConnect(string ns, IPEndPoint to)
    {
        using var s = Dns.NetworkNamespace.Run(ns, () => new Socket(to.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        try
        {
            return s.ConnectAsync(to).Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException) { return false; }
    }

    [Fact]
    public void Containers_on_one_bridge_reach_each_other_and_the_gateway_is_the_default_route()
    {
        _driver.EnsureBridge(_net);
        var ea = _driver.Attach(_net, _a.Path, "eth0", IPAddress.Parse("10.77.0.2"));
        var eb = _driver.Attach(_net, _b.Path, "eth0", IPAddress.Parse("10.77.0.3"));
        Assert.Equal("02:42:0a:4d:00:02", string.Join(':', ea.Mac.GetAddressBytes().Select(b => b.ToString("x2"))));
        using (var inner = Rtnl.OpenIn(_a.Path))
            Assert.Contains(inner.ListRoutes(), r => r.PrefixLength == 0);

        using var server = ListenIn(_a.Path, 8080);
        Assert.True(CanConnect(_b.Path, new IPEndPoint(ea.Address, 8080)));
        Assert.True(CanConnect(_host.Path, new IPEndPoint(ea.Address, 8080)));

        _driver.Detach(eb.HostVeth);
        Assert.DoesNotContain(_driver.Links(), l => l.Name == eb.HostVeth);
    }

    [Fact]
    public void Stale_veths_on_our_bridges_are_removed()
    {
        _driver.EnsureBridge(_net);
        var ea = _driver.Attach(_net, _a.Path, "eth0", IPAddress.Parse("10.77.0.2"));
        var eb = _driver.Attach(_net, _b.Path, "eth0", IPAddress.Parse("10.77.0.3"));
        var removed = _driver.RemoveStaleVeths(["tbr"], new HashSet<string> { ea.HostVeth });
        Assert.Equal([eb.HostVeth], removed);
        Assert.Contains(_driver.Links(), l => l.Name == ea.HostVeth);
    }

    [Fact]
    public void Published_port_is_reachable_on_loopback_and_icc_off_blocks_neighbours()
    {
        if (!HasNft()) Assert.Skip("nft is not installed");
        _driver.EnsureBridge(_net);
        var ea = _driver.Attach(_net, _a.Path, "eth0", IPAddress.Parse("10.77.0.2"));
        _driver.Attach(_net, _b.Path, "eth0", IPAddress.Parse("10.77.0.3"));
        var fw = new NftFirewall("berth-test", _host.Path);
        using var server = ListenIn(_a.Path, 80);

        fw.Apply([new BridgeRules("tbr", _net.ParsedSubnet, Internal: false, Icc: false)],
                 [new PortRule(ProtocolType.Tcp, null, 18080, ea.Address, 80, "tbr")]);
        Assert.True(fw.Exists());
        Assert.True(CanConnect(_host.Path, new IPEndPoint(IPAddress.Loopback, 18080)));
        Assert.False(CanConnect(_b.Path, new IPEndPoint(ea.Address, 80)));

        fw.Apply([new BridgeRules("tbr", _net.ParsedSubnet, Internal: false, Icc: true)], []);
        Assert.True(CanConnect(_b.Path, new IPEndPoint(ea.Address, 80)));
        Assert.False(CanConnect(_host.Path, new IPEndPoint(IPAddress.Loopback, 18080)));

        fw.Remove();
        Assert.False(fw.Exists());
    }

    static bool KernelHasIpv6() => File.Exists("/proc/net/if_inet6");

    readonly NetworkRecord _net6 = new()
    {
        Id = "n6", Name = "t6", BridgeName = "tbr6", Subnet = "10.78.0.0/24", Gateway = "10.78.0.1", Mtu = 1500,
        EnableIPv6 = true, Subnet6 = "fd77:1:2:3::/64", Gateway6 = "fd77:1:2:3::1",
    };

    [Fact]
    public void Ipv6_containers_reach_each_other_and_the_gateway_at_once_with_an_ipv6_default_route()
    {
        if (!KernelHasIpv6()) Assert.Skip("the host kernel has no IPv6 (/proc/net/if_inet6 is missing)");
        _driver.EnsureBridge(_net6);
        // A namespace whose IPv6 is off by default (as on hosts booted that way) still gets its address.
        Dns.NetworkNamespace.Run(_b.Path, () => { File.WriteAllText("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1"); return true; });
        var ea = _driver.Attach(_net6, _a.Path, "eth0", IPAddress.Parse("10.78.0.2"), IPAddress.Parse("fd77:1:2:3::2"));
        _driver.Attach(_net6, _b.Path, "eth0", IPAddress.Parse("10.78.0.3"), IPAddress.Parse("fd77:1:2:3::3"));
        Assert.Equal(IPAddress.Parse("fd77:1:2:3::2"), ea.Address6);
        using (var inner = Rtnl.OpenIn(_a.Path))
            Assert.Contains(inner.ListRoutes(ipv6: true), r => r.PrefixLength == 0);

        // No DAD: the addresses work the moment Attach returns, without waiting.
        using var server = ListenIn(_a.Path, 8080, ipv6: true);
        Assert.True(CanConnect(_b.Path, new IPEndPoint(IPAddress.Parse("fd77:1:2:3::2"), 8080)));
        Assert.True(CanConnect(_host.Path, new IPEndPoint(IPAddress.Parse("fd77:1:2:3::2"), 8080)));
        using var onGateway = ListenIn(_host.Path, 8081, ipv6: true);
        Assert.True(CanConnect(_a.Path, new IPEndPoint(IPAddress.Parse("fd77:1:2:3::1"), 8081)));
    }

    [Fact]
    public void A_network_without_ipv6_gets_no_ipv6_address_or_route()
    {
        _driver.EnsureBridge(_net);
        _driver.Attach(_net, _a.Path, "eth0", IPAddress.Parse("10.77.0.2"));
        using var inner = Rtnl.OpenIn(_a.Path);
        Assert.DoesNotContain(inner.ListRoutes(ipv6: true), r => r.PrefixLength == 0);
        Assert.DoesNotContain(inner.ListRoutes(ipv6: true), r => r.Destination.GetAddressBytes()[0] == 0xfd);
    }

    [Fact]
    public void Ipv6_rules_isolate_like_ipv4_and_the_ip6_table_exists_only_with_an_ipv6_network()
    {
        if (!HasNft()) Assert.Skip("nft is not installed");
        if (!KernelHasIpv6()) Assert.Skip("the host kernel has no IPv6 (/proc/net/if_inet6 is missing)");
        _driver.EnsureBridge(_net6);
        var ea = _driver.Attach(_net6, _a.Path, "eth0", IPAddress.Parse("10.78.0.2"), IPAddress.Parse("fd77:1:2:3::2"));
        _driver.Attach(_net6, _b.Path, "eth0", IPAddress.Parse("10.78.0.3"), IPAddress.Parse("fd77:1:2:3::3"));
        var fw = new NftFirewall("berth-test6", _host.Path);
        using var server = ListenIn(_a.Path, 80, ipv6: true);
        var a6 = new IPEndPoint(ea.Address6!, 80);

        var rules = new BridgeRules("tbr6", _net6.ParsedSubnet, Internal: false, Icc: false, _net6.ParsedSubnet6);
        fw.Apply([rules], [new PortRule(ProtocolType.Tcp, IPAddress.Parse("fd77:1:2:3::1"), 18080, ea.Address6!, 80, "tbr6")]);
        Assert.True(fw.Exists(ipv6: true));
        Assert.False(CanConnect(_b.Path, a6)); // icc off holds for IPv6 too
        Assert.Contains("ip6 saddr fd77:1:2:3::/64 oifname != \"tbr6\" masquerade", fw.Render([rules], []));

        fw.Apply([rules with { Icc = true }], []);
        // The refused attempt above also dropped neighbour discovery (bridged ICMPv6 crosses the ip6 forward hook),
        // so the neighbour entry may be FAILED and the kernel's next resolution takes up to its retransmit time.
        Assert.True(Enumerable.Range(0, 3).Any(_ => CanConnect(_b.Path, a6)));

        fw.Apply([rules with { Subnet6 = null }], []);
        Assert.False(fw.Exists(ipv6: true));
        Assert.True(fw.Exists());
        fw.Apply([rules], []);
        fw.Remove();
        Assert.False(fw.Exists(ipv6: true));
        Assert.False(fw.Exists());
    }

    [Fact]
    public void No_network_accepts_outbound_traffic_before_every_network_has_refused_inbound()
    {
        // An accept ends the forward chain: if "out of A" came before "nothing into B", A could reach B.
        var fw = new NftFirewall("berth-test");
        var text = fw.Render([new BridgeRules("tbra", _net.ParsedSubnet, Internal: false, Icc: true),
                              new BridgeRules("tbrb", _net6.ParsedSubnet, Internal: true, Icc: true)], []);
        int lastRefusal = Math.Max(text.IndexOf("oifname \"tbra\" drop", StringComparison.Ordinal),
                                   text.IndexOf("oifname \"tbrb\" drop", StringComparison.Ordinal));
        int firstOutbound = Math.Min(text.IndexOf("iifname \"tbra\" accept", StringComparison.Ordinal),
                                     text.IndexOf("iifname \"tbrb\" accept", StringComparison.Ordinal));
        Assert.True(lastRefusal > 0 && firstOutbound > lastRefusal, text);
    }

    [Fact]
    public void Ipv4_only_rules_render_no_ip6_table()
    {
        var fw = new NftFirewall("berth-test");
        var text = fw.Render([new BridgeRules("tbr", _net.ParsedSubnet, Internal: false, Icc: true)],
                             [new PortRule(ProtocolType.Tcp, null, 18080, IPAddress.Parse("10.77.0.2"), 80, "tbr")]);
        Assert.DoesNotContain("ip6", text);
        Assert.Contains("tcp dport 18080 dnat to 10.77.0.2:80", text);
    }
}
