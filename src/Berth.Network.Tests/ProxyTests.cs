using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Berth.Network.Proxy;

namespace Berth.Network.Tests;

/// <summary>The userland proxy between loopback clients and loopback servers the tests start.</summary>
public class ProxyTests
{
    static readonly IPEndPoint AnyLoopbackPort = new(IPAddress.Loopback, 0);

    /// <summary>
    /// A TCP server on 127.0.0.1 that reads each connection to its end, then answers with what it
    /// read, reversed in order of arrival (so half-close is needed to get any answer), and closes.
    /// With echo on, it instead echoes as it reads.
    /// </summary>
    sealed class TcpServer : IAsyncDisposable
    {
        readonly Socket listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        readonly CancellationTokenSource stop = new();
        readonly Task loop;
        public IPEndPoint EndPoint { get; }

        public TcpServer(bool echo)
        {
            listener.Bind(AnyLoopbackPort);
            listener.Listen(512);
            EndPoint = (IPEndPoint)listener.LocalEndPoint!;
            loop = AcceptAsync(echo);
        }

        async Task AcceptAsync(bool echo)
        {
            try
            {
                while (true)
                {
                    var client = await listener.AcceptAsync(stop.Token);
                    _ = ServeAsync(client, echo);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }

        static async Task ServeAsync(Socket client, bool echo)
        {
            using (client)
            {
                try
                {
                    var received = new MemoryStream();
                    var buffer = new byte[8192];
                    int n;
                    while ((n = await client.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                    {
                        if (echo) await client.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
                        else received.Write(buffer, 0, n);
                    }
                    if (!echo) await client.SendAsync(Encoding.ASCII.GetBytes($"got {received.Length} bytes"), SocketFlags.None);
                    client.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            stop.Cancel();
            listener.Dispose();
            await loop;
        }
    }

    static async Task<byte[]> ReadToEndAsync(Socket socket, CancellationToken cancel)
    {
        var all = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancel)) > 0) all.Write(buffer, 0, n);
        return all.ToArray();
    }

    static async Task<Socket> ConnectAsync(IPEndPoint to)
    {
        var socket = new Socket(to.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(to);
        return socket;
    }

    [Fact]
    public async Task Tcp_bytes_flow_both_ways_through_a_random_host_port()
    {
        await using var server = new TcpServer(echo: true);
        await using var proxy = PortProxy.Start(ProtocolType.Tcp, AnyLoopbackPort, server.EndPoint);
        Assert.NotEqual(0, proxy.Listen.Port);

        using var client = await ConnectAsync(proxy.Listen);
        var payload = RandomBytes(300_000);
        var reading = ReadToEndAsync(client, TestContext.Current.CancellationToken);
        await client.SendAsync(payload, SocketFlags.None);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal(payload, await reading.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Tcp_half_close_reaches_the_target_and_its_answer_still_comes_back()
    {
        await using var server = new TcpServer(echo: false);
        await using var proxy = PortProxy.Start(ProtocolType.Tcp, AnyLoopbackPort, server.EndPoint);

        using var client = await ConnectAsync(proxy.Listen);
        await client.SendAsync(new byte[12345], SocketFlags.None);
        client.Shutdown(SocketShutdown.Send); // the server answers only after it sees our end of stream

        var answer = await ReadToEndAsync(client, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("got 12345 bytes", Encoding.ASCII.GetString(answer));
    }

    [Fact]
    public async Task Many_parallel_tcp_connections_each_get_their_own_bytes_back()
    {
        await using var server = new TcpServer(echo: true);
        await using var proxy = PortProxy.Start(ProtocolType.Tcp, AnyLoopbackPort, server.EndPoint);

        await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            using var client = await ConnectAsync(proxy.Listen);
            var payload = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"connection {i};", 500)));
            var reading = ReadToEndAsync(client, TestContext.Current.CancellationToken);
            await client.SendAsync(payload, SocketFlags.None);
            client.Shutdown(SocketShutdown.Send);
            Assert.Equal(payload, await reading);
        })).WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_target_that_refuses_gets_the_client_connection_closed()
    {
        using var reserved = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        reserved.Bind(AnyLoopbackPort); // bound, never listening: connections to it are refused
        await using var proxy = PortProxy.Start(ProtocolType.Tcp, AnyLoopbackPort, (IPEndPoint)reserved.LocalEndPoint!);

        using var client = await ConnectAsync(proxy.Listen);

        Assert.Empty(await ReadToEndAsync(client, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Dispose_stops_listening_and_closes_live_connections()
    {
        await using var server = new TcpServer(echo: true);
        var proxy = PortProxy.Start(ProtocolType.Tcp, AnyLoopbackPort, server.EndPoint);
        using var client = await ConnectAsync(proxy.Listen);
        await client.SendAsync("ping"u8.ToArray(), SocketFlags.None);
        var buffer = new byte[4];
        Assert.Equal(4, await client.ReceiveAsync(buffer, SocketFlags.None));

        await proxy.DisposeAsync();

        try
        {
            Assert.Empty(await ReadToEndAsync(client, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20)));
        }
        catch (SocketException e)
        {
            Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
        }
        var refused = await Assert.ThrowsAsync<SocketException>(() => ConnectAsync(proxy.Listen));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Theory]
    [InlineData(ProtocolType.Tcp)]
    [InlineData(ProtocolType.Udp)]
    public async Task A_port_already_taken_fails_with_dockers_message(ProtocolType protocol)
    {
        await using var first = PortProxy.Start(protocol, AnyLoopbackPort, new IPEndPoint(IPAddress.Loopback, 9));

        var error = Assert.Throws<PortInUseException>(() => PortProxy.Start(protocol, first.Listen, new IPEndPoint(IPAddress.Loopback, 9)));

        Assert.Equal($"Bind for 127.0.0.1:{first.Listen.Port} failed: port is already allocated", error.Message);
    }

    [Fact]
    public async Task Ipv6_listen_address_relays_to_an_ipv4_target()
    {
        if (!Socket.OSSupportsIPv6 || !NetworkInterface.GetAllNetworkInterfaces().Any(i =>
                i.NetworkInterfaceType == NetworkInterfaceType.Loopback && i.GetIPProperties().UnicastAddresses.Any(a => a.Address.Equals(IPAddress.IPv6Loopback))))
            Assert.Skip("the loopback interface has no ::1");
        await using var server = new TcpServer(echo: true);
        await using var proxy = PortProxy.Start(ProtocolType.Tcp, new IPEndPoint(IPAddress.IPv6Loopback, 0), server.EndPoint);

        using var client = await ConnectAsync(proxy.Listen);
        var reading = ReadToEndAsync(client, TestContext.Current.CancellationToken);
        await client.SendAsync("over six"u8.ToArray(), SocketFlags.None);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("over six", Encoding.ASCII.GetString(await reading.WaitAsync(TimeSpan.FromSeconds(20))));
    }

    /// <summary>A UDP server on 127.0.0.1 that answers each datagram with "port:payload", naming the source port it saw.</summary>
    sealed class UdpEcho : IAsyncDisposable
    {
        readonly Socket socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        readonly CancellationTokenSource stop = new();
        readonly Task loop;
        public IPEndPoint EndPoint { get; }

        public UdpEcho()
        {
            socket.Bind(AnyLoopbackPort);
            EndPoint = (IPEndPoint)socket.LocalEndPoint!;
            loop = ServeAsync();
        }

        async Task ServeAsync()
        {
            var buffer = new byte[65535];
            EndPoint any = new IPEndPoint(IPAddress.Any, 0);
            try
            {
                while (true)
                {
                    var r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, stop.Token);
                    var reply = Encoding.ASCII.GetBytes($"{((IPEndPoint)r.RemoteEndPoint).Port}:{Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes)}");
                    await socket.SendToAsync(reply, SocketFlags.None, r.RemoteEndPoint);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            stop.Cancel();
            socket.Dispose();
            await loop;
        }
    }

    static async Task<string> ExchangeAsync(Socket client, string payload)
    {
        await client.SendAsync(Encoding.ASCII.GetBytes(payload), SocketFlags.None);
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.ASCII.GetString(buffer, 0, n);
    }

    static Socket UdpClient(IPEndPoint to)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(to);
        return socket;
    }

    [Fact]
    public async Task Udp_replies_go_back_to_the_client_that_asked()
    {
        await using var server = new UdpEcho();
        await using var proxy = PortProxy.Start(ProtocolType.Udp, AnyLoopbackPort, server.EndPoint);
        using var alice = UdpClient(proxy.Listen);
        using var bob = UdpClient(proxy.Listen);

        var fromAlice = await ExchangeAsync(alice, "alice");
        var fromBob = await ExchangeAsync(bob, "bob");
        var againAlice = await ExchangeAsync(alice, "alice again");

        Assert.EndsWith(":alice", fromAlice);
        Assert.EndsWith(":bob", fromBob);
        Assert.EndsWith(":alice again", againAlice);
        // One flow per client: alice keeps her relay port, bob has another.
        Assert.Equal(fromAlice.Split(':')[0], againAlice.Split(':')[0]);
        Assert.NotEqual(fromAlice.Split(':')[0], fromBob.Split(':')[0]);
    }

    [Fact]
    public async Task An_idle_udp_flow_is_closed_and_the_next_datagram_starts_a_new_one()
    {
        await using var server = new UdpEcho();
        await using var proxy = PortProxy.Start(ProtocolType.Udp, AnyLoopbackPort, server.EndPoint, TimeSpan.FromSeconds(1));
        using var client = UdpClient(proxy.Listen);

        var first = await ExchangeAsync(client, "one");
        await Task.Delay(TimeSpan.FromSeconds(3));
        var second = await ExchangeAsync(client, "two");

        Assert.NotEqual(first.Split(':')[0], second.Split(':')[0]);
    }

    static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }
}
