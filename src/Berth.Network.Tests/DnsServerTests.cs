using System.Net;
using System.Net.Sockets;
using Berth.Network.Dns;

namespace Berth.Network.Tests;

/// <summary>
/// The embedded server for real: each test makes its own network namespace, attaches the server
/// there and queries 127.0.0.11 from inside, with busybox nslookup or a socket opened in the
/// namespace. The fake upstream listens on the host's 127.0.0.1, which only the daemon-side
/// forwarder can reach.
/// </summary>
public class DnsServerTests
{
    static readonly IPAddress WebAddress = IPAddress.Parse("10.88.0.2");
    static readonly IPEndPoint Server = new(EmbeddedDns.Address, EmbeddedDns.Port);

    static FakeNames Names()
    {
        var names = new FakeNames();
        names.Names[("n1", "web")] = [WebAddress];
        names.Names[("n1", "db-alias")] = [IPAddress.Parse("10.88.0.3"), IPAddress.Parse("fd00::3")];
        names.Names[("n2", "cache")] = [IPAddress.Parse("10.99.0.4")];
        names.Reverse[("n1", WebAddress)] = "web.n1";
        return names;
    }

    static async Task<DnsClient.Reply> QueryUdpAsync(TestNetns ns, byte[] query)
    {
        using var socket = ns.InNamespace(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        await socket.ConnectAsync(Server);
        await socket.SendAsync(query, SocketFlags.None);
        var buffer = new byte[65535];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        var reply = DnsClient.Parse(buffer[..n]);
        Assert.Equal(DnsWire.Id(query), reply.Id);
        return reply;
    }

    static async Task<DnsClient.Reply> QueryTcpAsync(TestNetns ns, byte[] query)
    {
        using var socket = ns.InNamespace(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(Server, timeout.Token);
        await using var stream = new NetworkStream(socket);
        await DnsTcp.WriteMessageAsync(stream, query, timeout.Token);
        var reply = await DnsTcp.ReadMessageAsync(stream, timeout.Token);
        Assert.NotNull(reply);
        return DnsClient.Parse(reply);
    }

    [Fact]
    public async Task Busybox_nslookup_inside_the_namespace_resolves_a_container_name()
    {
        if (!File.Exists("/bin/busybox")) Assert.Skip("busybox-static is not installed");
        using var ns = TestNetns.Create();
        await using var dns = new EmbeddedDns(Names(), []);
        dns.Attach("c1", ns.Path, "n1");

        var output = ns.Exec("/bin/busybox", "nslookup", "web.", "127.0.0.11");

        Assert.Contains("10.88.0.2", output);
    }

    [Fact]
    public async Task Container_names_resolve_case_insensitively_with_dockers_ttl()
    {
        using var ns = TestNetns.Create();
        await using var dns = new EmbeddedDns(Names(), []);
        dns.Attach("c1", ns.Path, "n1");

        var reply = await QueryUdpAsync(ns, DnsClient.Query(11, "WeB", DnsType.A));

        Assert.Equal(DnsRcode.NoError, reply.Rcode);
        Assert.Equal("WeB", reply.QuestionName);
        var answer = Assert.Single(reply.Answers);
        Assert.Equal(WebAddress, answer.Address);
        Assert.Equal(600u, answer.Ttl);

        var v6 = await QueryUdpAsync(ns, DnsClient.Query(12, "db-alias", DnsType.AAAA));
        Assert.Equal(IPAddress.Parse("fd00::3"), Assert.Single(v6.Answers).Address);
    }

    [Fact]
    public async Task Aaaa_for_an_ipv4_only_container_is_an_empty_answer_that_never_leaks_upstream()
    {
        using var ns = TestNetns.Create();
        await using var upstream = new FakeUpstream();
        await using var dns = new EmbeddedDns(Names(), [upstream.EndPoint]);
        dns.Attach("c1", ns.Path, "n1");

        var reply = await QueryUdpAsync(ns, DnsClient.Query(13, "web", DnsType.AAAA));

        Assert.Equal(DnsRcode.NoError, reply.Rcode);
        Assert.Empty(reply.Answers);
        Assert.Equal(0, upstream.UdpQueries);
    }

    [Fact]
    public async Task Other_names_are_forwarded_to_a_loopback_upstream_from_the_daemons_namespace()
    {
        using var ns = TestNetns.Create();
        await using var upstream = new FakeUpstream();
        await using var dns = new EmbeddedDns(Names(), [upstream.EndPoint]);
        dns.Attach("c1", ns.Path, "n1");

        var reply = await QueryUdpAsync(ns, DnsClient.Query(14, "example.com", DnsType.A));

        Assert.Equal(DnsRcode.NoError, reply.Rcode);
        Assert.False(reply.Authoritative);
        Assert.Equal(FakeUpstream.Answer, Assert.Single(reply.Answers).Address);
        Assert.Equal(1, upstream.UdpQueries);
    }

    [Fact]
    public async Task Tcp_queries_are_answered_locally_and_forwarded_over_tcp()
    {
        using var ns = TestNetns.Create();
        await using var upstream = new FakeUpstream();
        await using var dns = new EmbeddedDns(Names(), [upstream.EndPoint]);
        dns.Attach("c1", ns.Path, "n1");

        var local = await QueryTcpAsync(ns, DnsClient.Query(15, "web", DnsType.A));
        var forwarded = await QueryTcpAsync(ns, DnsClient.Query(16, "example.com", DnsType.A));

        Assert.Equal(WebAddress, Assert.Single(local.Answers).Address);
        Assert.Equal(FakeUpstream.Answer, Assert.Single(forwarded.Answers).Address);
        Assert.Equal((0, 1), (upstream.UdpQueries, upstream.TcpQueries));
    }

    [Fact]
    public async Task A_truncated_upstream_reply_is_fetched_again_over_tcp_when_the_client_can_take_it()
    {
        using var ns = TestNetns.Create();
        await using var upstream = new FakeUpstream();
        await using var dns = new EmbeddedDns(Names(), [upstream.EndPoint]);
        dns.Attach("c1", ns.Path, "n1");

        var edns = await QueryUdpAsync(ns, DnsClient.Query(17, "big.example", DnsType.A, ednsSize: 4096));
        Assert.False(edns.Truncated);
        Assert.Equal(40, edns.Answers.Count);

        var classic = await QueryUdpAsync(ns, DnsClient.Query(18, "big.example", DnsType.A));
        Assert.True(classic.Truncated); // 40 records do not fit 512 bytes: the client must ask over TCP
        Assert.Equal(2, upstream.TcpQueries);
    }

    [Fact]
    public async Task Servfail_when_no_upstream_answers_in_time()
    {
        using var ns = TestNetns.Create();
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await using var dns = new EmbeddedDns(Names(), [(IPEndPoint)silent.LocalEndPoint!])
        {
            Forwarder = new DnsForwarder { Timeout = TimeSpan.FromMilliseconds(300) },
        };
        dns.Attach("c1", ns.Path, "n1");

        var reply = await QueryUdpAsync(ns, DnsClient.Query(19, "example.com", DnsType.A));

        Assert.Equal(DnsRcode.ServFail, reply.Rcode);
        Assert.Equal("example.com", reply.QuestionName);
    }

    [Fact]
    public async Task A_container_without_upstreams_resolves_only_its_networks_names()
    {
        using var ns = TestNetns.Create();
        await using var upstream = new FakeUpstream();
        await using var dns = new EmbeddedDns(Names(), [upstream.EndPoint]);
        dns.Attach("c1", ns.Path, "n1", containerUpstreams: []); // as on an --internal network

        var external = await QueryUdpAsync(ns, DnsClient.Query(20, "example.com", DnsType.A));
        var local = await QueryUdpAsync(ns, DnsClient.Query(21, "web", DnsType.A));

        Assert.Equal(DnsRcode.ServFail, external.Rcode);
        Assert.Equal(0, upstream.UdpQueries);
        Assert.Equal(WebAddress, Assert.Single(local.Answers).Address);
    }

    [Fact]
    public async Task A_container_on_two_networks_resolves_names_of_both_until_it_leaves_one()
    {
        using var ns = TestNetns.Create();
        await using var dns = new EmbeddedDns(Names(), []);
        dns.Attach("c1", ns.Path, "n1");
        dns.Attach("c1", ns.Path, "n2");

        Assert.Single((await QueryUdpAsync(ns, DnsClient.Query(22, "cache", DnsType.A))).Answers);
        Assert.Single((await QueryUdpAsync(ns, DnsClient.Query(23, "web", DnsType.A))).Answers);

        dns.Detach("c1", "n2");

        Assert.Equal(DnsRcode.ServFail, (await QueryUdpAsync(ns, DnsClient.Query(24, "cache", DnsType.A))).Rcode);
        Assert.Single((await QueryUdpAsync(ns, DnsClient.Query(25, "web", DnsType.A))).Answers);
    }

    [Fact]
    public async Task Ptr_query_for_a_container_address_names_the_container()
    {
        using var ns = TestNetns.Create();
        await using var dns = new EmbeddedDns(Names(), []);
        dns.Attach("c1", ns.Path, "n1");

        var reply = await QueryUdpAsync(ns, DnsClient.Query(26, "2.0.88.10.in-addr.arpa", DnsType.PTR));

        Assert.Equal("web.n1", Assert.Single(reply.Answers).Name);
    }

    [Fact]
    public async Task Hostile_packets_get_formerr_or_nothing_and_the_server_keeps_serving()
    {
        using var ns = TestNetns.Create();
        await using var dns = new EmbeddedDns(Names(), []);
        dns.Attach("c1", ns.Path, "n1");

        // A query whose only name is a compression pointer to itself.
        byte[] loop = [0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
        var formerr = await QueryUdpAsync(ns, loop);
        Assert.Equal(DnsRcode.FormErr, formerr.Rcode);

        using (var udp = ns.InNamespace(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)))
        {
            udp.Connect(Server);
            udp.Send(new byte[5]);
            udp.Send(new byte[1400]);
        }
        using (var tcp = ns.InNamespace(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
        {
            tcp.Connect(Server);
            tcp.Send([0xFF, 0xFF, 1, 2, 3]); // announces 65535 bytes, sends 3, hangs up
        }

        Assert.Single((await QueryUdpAsync(ns, DnsClient.Query(27, "web", DnsType.A))).Answers);
        Assert.Single((await QueryTcpAsync(ns, DnsClient.Query(28, "web", DnsType.A))).Answers);
    }

    [Fact]
    public async Task Detach_closes_the_sockets_inside_the_namespace()
    {
        using var ns = TestNetns.Create();
        await using var dns = new EmbeddedDns(Names(), []);
        dns.Attach("c1", ns.Path, "n1");
        Assert.Single((await QueryUdpAsync(ns, DnsClient.Query(29, "web", DnsType.A))).Answers);

        dns.Detach("c1");

        // The address is free again: nothing of the server is left in the namespace.
        ns.InNamespace(() =>
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(Server);
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(Server);
            return 0;
        });
    }
}
