using System.Net;
using Berth.Network.Dns;

namespace Berth.Network.Tests;

public class DnsNameTableTests
{
    const string WebId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static readonly IPAddress Web = IPAddress.Parse("10.0.0.2"), Api = IPAddress.Parse("10.0.0.3");

    static DnsNameTable Table()
    {
        var table = new DnsNameTable();
        table.Add("net1", "mynet", WebId, "/web", ["frontend", "shared"], [Web]);
        table.Add("net1", "mynet", "fedcba9876543210", "api", ["shared"], [Api]);
        return table;
    }

    [Theory]
    [InlineData("web")]
    [InlineData("WEB")]
    [InlineData("frontend")]
    [InlineData("0123456789ab")]
    public void A_container_is_found_by_name_short_id_and_alias_in_any_case(string name)
    {
        Assert.Equal([Web], Table().Lookup("net1", name));
    }

    [Fact]
    public void A_shared_alias_resolves_to_every_container_holding_it()
    {
        Assert.Equal([Web, Api], Table().Lookup("net1", "shared")!.OrderBy(a => a.ToString()));
    }

    [Fact]
    public void Names_are_only_known_on_their_own_network()
    {
        var table = Table();
        Assert.Null(table.Lookup("net2", "web"));
        Assert.Null(table.Lookup("net1", "0123456789abcdef")); // not the short id, not the full one
        Assert.Null(table.Lookup("net1", "nobody"));
    }

    [Fact]
    public void A_removed_container_no_longer_resolves()
    {
        var table = Table();
        table.Remove("net1", WebId);
        Assert.Null(table.Lookup("net1", "web"));
        Assert.Equal([Api], table.Lookup("net1", "shared"));
    }

    [Fact]
    public void Reverse_lookup_answers_name_dot_network()
    {
        var table = Table();
        Assert.Equal("web.mynet", table.ReverseLookup("net1", Web));
        Assert.Null(table.ReverseLookup("net1", IPAddress.Parse("10.0.0.99")));
        Assert.Null(table.ReverseLookup("net2", Web));
    }
}
