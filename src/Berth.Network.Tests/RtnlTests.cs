using System.Net;
using System.Net.NetworkInformation;
using Berth.Interop;
using Berth.Network.Netlink;

namespace Berth.Network.Tests;

/// <summary>rtnetlink against the real kernel, always inside network namespaces the test makes and drops.</summary>
public sealed class RtnlTests
{
    static NetnsHandle NewNetnsOrSkip()
    {
        if (LibC.geteuid() != 0) Assert.Skip("needs root to create network namespaces");
        return Netns.Create();
    }

    [Fact]
    public void Bridge_and_veth_are_created_enslaved_and_brought_up()
    {
        using var ns = NewNetnsOrSkip();
        using var nl = Rtnl.OpenIn(ns.Path);
        nl.CreateBridge("tbr0", mtu: 1400);
        nl.CreateVeth("tveth0", "tveth1", mtu: 1400);
        var br = nl.RequireLink("tbr0");
        var veth = nl.RequireLink("tveth0");
        nl.SetMaster(veth.Index, br.Index);
        nl.SetUp(br.Index);
        nl.SetUp(veth.Index);

        var links = nl.ListLinks().ToDictionary(l => l.Name);
        Assert.Equal("bridge", links["tbr0"].Kind);
        Assert.Equal(1400, links["tbr0"].Mtu);
        Assert.Equal("veth", links["tveth0"].Kind);
        Assert.Equal(br.Index, links["tveth0"].Master);
        Assert.True(links["tveth0"].Up);
        Assert.Contains("tveth1", links.Keys);

        Assert.True(nl.DeleteLink("tveth0"));
        Assert.Null(nl.GetLink("tveth1")); // deleting one end of a pair deletes both
        Assert.False(nl.DeleteLink("tveth0"));
    }

    [Fact]
    public void Veth_peer_moves_into_another_namespace_and_gets_address_and_default_route()
    {
        using var host = NewNetnsOrSkip();
        using var container = Netns.Create();
        using var nl = Rtnl.OpenIn(host.Path);
        var mac = PhysicalAddress.Parse("02-42-0A-01-02-03");
        nl.CreateVeth("vhost", "vtmp", peerNetnsFd: container.Fd, peerMac: mac);
        Assert.Null(nl.GetLink("vtmp"));
        var hostEnd = nl.RequireLink("vhost");
        nl.AddAddress(hostEnd.Index, IPAddress.Parse("10.1.2.1"), 24);
        nl.SetUp(hostEnd.Index);

        using var inner = Rtnl.OpenIn(container.Path);
        var peer = inner.RequireLink("vtmp");
        inner.Rename(peer.Index, "eth0");
        inner.SetUp(inner.RequireLink("lo").Index);
        inner.SetUp(peer.Index);
        inner.AddAddress(peer.Index, IPAddress.Parse("10.1.2.3"), 24);
        inner.AddRoute(IPAddress.Any, 0, IPAddress.Parse("10.1.2.1"), peer.Index);

        var eth0 = inner.RequireLink("eth0");
        Assert.Equal(mac, eth0.Mac);
        var routes = inner.ListRoutes();
        Assert.Contains(routes, r => r.PrefixLength == 0 && r.OutIndex == eth0.Index);
        Assert.Contains(routes, r => r.PrefixLength == 24 && r.Destination.Equals(IPAddress.Parse("10.1.2.0")));
    }

    [Fact]
    public void Link_moved_by_fd_leaves_the_namespace()
    {
        using var a = NewNetnsOrSkip();
        using var b = Netns.Create();
        using var nl = Rtnl.OpenIn(a.Path);
        nl.CreateVeth("mva", "mvb");
        nl.MoveToNetns(nl.RequireLink("mvb").Index, b.Fd);
        Assert.Null(nl.GetLink("mvb"));
        using var nlb = Rtnl.OpenIn(b.Path);
        Assert.NotNull(nlb.GetLink("mvb"));
    }

    [Fact]
    public void Errors_name_the_operation_and_errno()
    {
        using var ns = NewNetnsOrSkip();
        using var nl = Rtnl.OpenIn(ns.Path);
        nl.CreateBridge("dup0");
        var e = Assert.Throws<SysException>(() => nl.CreateBridge("dup0"));
        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Contains("dup0", e.Message);
    }
}
