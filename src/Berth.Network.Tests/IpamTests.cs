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
}
