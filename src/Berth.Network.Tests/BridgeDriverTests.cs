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

    static Socket ListenIn(string ns, int port) => Dns.NetworkNamespace.Run(ns, () =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Any, port));
        s.Listen();
        return s;
    });

    static bool CanConnect(string ns, IPEndPoint to)
    {
        using var s = Dns.NetworkNamespace.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
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
}
