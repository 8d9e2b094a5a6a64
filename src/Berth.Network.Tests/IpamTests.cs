using System.Net;
using Berth.Graph;

namespace Berth.Network.Tests;

public sealed class IpamTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("berth-ipam-").FullName;
    MetadataDb _db;

    public IpamTests() => _db = MetadataDb.Open(Path.Combine(_dir, "berth.db"));

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, true);
    }

    static NetworkRecord Net(string subnet = "10.9.0.0/24", string gateway = "10.9.0.1", string range = "") =>
        new() { Id = Guid.NewGuid().ToString("N"), Name = "n" + Guid.NewGuid().ToString("N")[..6], Subnet = subnet, Gateway = gateway, IPRange = range };

    [Fact]
    public void Addresses_skip_network_and_gateway_and_are_unique()
    {
        var store = new NetworkStore(_db);
        var n = Net();
        store.Add(n);
        Assert.Equal(IPAddress.Parse("10.9.0.2"), store.Allocate(n, "a"));
        Assert.Equal(IPAddress.Parse("10.9.0.3"), store.Allocate(n, "b"));
        Assert.Equal(IPAddress.Parse("10.9.0.2"), store.Allocate(n, "a")); // idempotent per container
        store.Release(n.Id, "a");
        Assert.Equal(IPAddress.Parse("10.9.0.2"), store.Allocate(n, "c"));
    }

    [Fact]
    public void Allocations_survive_reopening_the_database()
    {
        var n = Net();
        var store = new NetworkStore(_db);
        store.Add(n);
        store.Allocate(n, "a");
        _db.Dispose();
        _db = MetadataDb.Open(Path.Combine(_dir, "berth.db"));
        var reopened = new NetworkStore(_db);
        Assert.Equal(n.Name, Assert.Single(reopened.All()).Name);
        Assert.Equal(IPAddress.Parse("10.9.0.3"), reopened.Allocate(n, "b"));
        Assert.Contains(reopened.Allocations(), x => x.ContainerId == "a" && x.Address.Equals(IPAddress.Parse("10.9.0.2")));
    }

    [Fact]
    public void Requested_address_is_honoured_and_conflicts_are_refused()
    {
        var store = new NetworkStore(_db);
        var n = Net();
        store.Add(n);
        Assert.Equal(IPAddress.Parse("10.9.0.50"), store.Allocate(n, "a", IPAddress.Parse("10.9.0.50")));
        Assert.Contains("already in use", Assert.Throws<IpamException>(() => store.Allocate(n, "b", IPAddress.Parse("10.9.0.50"))).Message);
        Assert.Throws<IpamException>(() => store.Allocate(n, "b", IPAddress.Parse("10.9.0.1")));
        Assert.Throws<IpamException>(() => store.Allocate(n, "b", IPAddress.Parse("10.8.0.5")));
    }

    [Fact]
    public void Ip_range_limits_dynamic_addresses_and_exhaustion_is_an_error()
    {
        var store = new NetworkStore(_db);
        var n = Net("10.9.0.0/24", "10.9.0.1", "10.9.0.128/31");
        store.Add(n);
        Assert.Equal(IPAddress.Parse("10.9.0.128"), store.Allocate(n, "a"));
        Assert.Equal(IPAddress.Parse("10.9.0.129"), store.Allocate(n, "b"));
        Assert.Throws<IpamException>(() => store.Allocate(n, "c"));
    }

    [Fact]
    public void Removing_a_network_drops_its_allocations()
    {
        var store = new NetworkStore(_db);
        var n = Net();
        store.Add(n);
        store.Allocate(n, "a");
        store.Remove(n.Id);
        Assert.Empty(store.Allocations());
    }

    [Fact]
    public void Picked_subnet_avoids_docker0_and_used_ranges()
    {
        var used = new[] { Subnet.Parse("172.18.0.0/16"), Subnet.Parse("172.19.5.0/24"), Subnet.Parse("0.0.0.0/0") };
        Assert.Equal(Subnet.Parse("172.20.0.0/16"), NetworkStore.PickSubnet(used));
        Assert.Equal(Subnet.Parse("172.31.0.0/16"), NetworkStore.PickSubnet(used, [Subnet.Parse("172.31.0.0/16")]));
        Assert.Equal(Subnet.Parse("172.18.0.0/16"), NetworkStore.PickSubnet([], [Subnet.Parse("172.17.0.0/16")]));
    }

    static NetworkRecord Net6(string subnet6 = "fd12:3456:789a:1::/64", string range6 = "")
    {
        var n = Net();
        n.EnableIPv6 = true;
        n.Subnet6 = subnet6;
        n.Gateway6 = Subnet.Parse(subnet6).At(1).ToString();
        n.IPRange6 = range6;
        return n;
    }

    [Fact]
    public void Ipv6_addresses_come_from_their_own_family_and_skip_network_and_gateway()
    {
        var store = new NetworkStore(_db);
        var n = Net6();
        store.Add(n);
        Assert.Equal(IPAddress.Parse("10.9.0.2"), store.Allocate(n, "a"));
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::2"), store.Allocate(n, "a", ipv6: true));
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::3"), store.Allocate(n, "b", ipv6: true));
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::2"), store.Allocate(n, "a", ipv6: true));
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::99"), store.Allocate(n, "c", IPAddress.Parse("fd12:3456:789a:1::99"), ipv6: true));
        Assert.Contains("already in use", Assert.Throws<IpamException>(() => store.Allocate(n, "d", IPAddress.Parse("fd12:3456:789a:1::99"), ipv6: true)).Message);
        Assert.Contains("IPv6", Assert.Throws<IpamException>(() => store.Allocate(n, "d", IPAddress.Parse("fd00::5"), ipv6: true)).Message);

        store.Release(n.Id, "a"); // the IPv4-only release leaves the IPv6 address alone
        Assert.Contains(store.Allocations(), x => x.ContainerId == "a" && x.Address.Equals(IPAddress.Parse("fd12:3456:789a:1::2")));
        store.Release(n.Id, "a", ipv6: true);
        Assert.DoesNotContain(store.Allocations(), x => x.ContainerId == "a");
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::2"), store.Allocate(n, "e", ipv6: true));
    }

    [Fact]
    public void Ipv6_allocations_survive_reopening_and_go_with_their_network()
    {
        var n = Net6("fd12:3456:789a:2::/64", "fd12:3456:789a:2:0:1::/96");
        var store = new NetworkStore(_db);
        store.Add(n);
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:2:0:1:0:0"), store.Allocate(n, "a", ipv6: true));
        _db.Dispose();
        _db = MetadataDb.Open(Path.Combine(_dir, "berth.db"));
        var reopened = new NetworkStore(_db);
        var back = Assert.Single(reopened.All());
        Assert.Equal(("fd12:3456:789a:2::/64", "fd12:3456:789a:2::1", true), (back.Subnet6, back.Gateway6, back.HasIPv6));
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:2:0:1:0:1"), reopened.Allocate(back, "b", ipv6: true));
        reopened.Remove(n.Id);
        Assert.Empty(reopened.Allocations());
    }

    [Fact]
    public void Ipv6_pool_is_a_stable_ula_48_and_picked_64s_avoid_used_ones()
    {
        var pool = NetworkStore.Ipv6Pool("/var/lib/berth");
        Assert.Equal(pool, NetworkStore.Ipv6Pool("/var/lib/berth"));
        Assert.NotEqual(pool, NetworkStore.Ipv6Pool("/tmp/other-root"));
        Assert.Equal(48, pool.PrefixLength);
        Assert.Equal(0xfd, pool.Network.GetAddressBytes()[0]);

        var first = NetworkStore.PickSubnet6(pool, []);
        Assert.Equal(new Subnet(pool.Network, 64), first);
        var second = NetworkStore.PickSubnet6(pool, [first, Subnet.Parse("10.0.0.0/8"), Subnet.Parse("::/0")]);
        Assert.Equal(pool.Nth(64, 1), second);
        Assert.True(pool.Contains(second));
        // A host route covering the first /56 pushes the pick past it.
        var covered = new Subnet(pool.Network, 56);
        Assert.Equal(pool.Nth(64, 256), NetworkStore.PickSubnet6(pool, [covered]));
    }

    [Fact]
    public void Subnets_of_both_families_parse_mask_and_compare()
    {
        var v6 = Subnet.Parse("fd12:3456:789a:1::17/64");
        Assert.Equal("fd12:3456:789a:1::/64", v6.ToString());
        Assert.True(v6.IsV6);
        Assert.True(v6.Contains(IPAddress.Parse("fd12:3456:789a:1:ffff::1")));
        Assert.False(v6.Contains(IPAddress.Parse("fd12:3456:789a:2::1")));
        Assert.False(v6.Contains(IPAddress.Parse("10.0.0.1")));
        Assert.False(Subnet.Parse("10.0.0.0/8").Contains(IPAddress.Parse("::a00:1")));
        Assert.True(v6.Overlaps(Subnet.Parse("fd12:3456:789a::/48")));
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::1"), v6.At(1));
        Assert.Equal(IPAddress.Parse("10.1.255.255"), Subnet.Broadcast(IPAddress.Parse("10.1.2.3"), 16));
        Assert.Equal("10.1.0.0/16", Subnet.Parse("10.1.2.3/16").ToString());
        Assert.Contains("IPv6", Assert.Throws<FormatException>(() => Subnet.ParseV4("fd00::/64")).Message);
        Assert.Contains("IPv4", Assert.Throws<FormatException>(() => Subnet.ParseV6("10.0.0.0/24")).Message);
        Assert.Throws<FormatException>(() => Subnet.Parse("fd00::/129"));
        Assert.Throws<FormatException>(() => Subnet.Parse("10.0.0.0/33"));
    }
}
