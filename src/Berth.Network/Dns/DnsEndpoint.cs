using System.Net;
using System.Net.Sockets;

namespace Berth.Network.Dns;

/// <summary>
/// One container's 127.0.0.11:53: the UDP and TCP sockets that were opened inside its netns,
/// the networks whose names it may resolve, and the loops that serve them.
/// </summary>
internal sealed class DnsEndpoint
{
    const int MaxTcpConnections = 16;
    static readonly TimeSpan TcpIdleTimeout = TimeSpan.FromSeconds(10);

    readonly EmbeddedDns server;
    readonly string containerId;
    readonly Socket udp, tcp;
    readonly CancellationTokenSource stop = new();
    readonly SemaphoreSlim tcpSlots = new(MaxTcpConnections);
    readonly Lock gate = new();
    // Replaced as a whole (copy on write) so that queries in flight read a consistent list without locks.
    volatile string[] networks;
    volatile IReadOnlyList<IPEndPoint>? upstreams;

    public string NetnsPath { get; }
    public Task Completion { get; private set; } = Task.CompletedTask;

    public DnsEndpoint(EmbeddedDns server, string containerId, string netnsPath, Socket udp, Socket tcp, string networkId, IReadOnlyList<IPEndPoint>? upstreams)
    {
        this.server = server;
        this.containerId = containerId;
        NetnsPath = netnsPath;
        this.udp = udp;
        this.tcp = tcp;
        networks = [networkId];
        this.upstreams = upstreams;
    }

    public void Start() => Completion = Task.WhenAll(Task.Run(ServeUdpAsync), Task.Run(ServeTcpAsync));

    public void AddNetwork(string networkId, IReadOnlyList<IPEndPoint>? containerUpstreams)
    {
        lock (gate)
        {
            if (!networks.Contains(networkId)) networks = [.. networks, networkId];
            if (containerUpstreams is not null) upstreams = containerUpstreams;
        }
    }

    /// <summary>False when that was the last network.</summary>
    public bool RemoveNetwork(string networkId)
    {
        lock (gate)
        {
            networks = networks.Where(n => n != networkId).ToArray();
            return networks.Length > 0;
        }
    }

    public void Stop()
    {
        stop.Cancel();
        udp.Dispose();
        tcp.Dispose();
    }

    async Task ServeUdpAsync()
    {
        var buffer = new byte[ushort.MaxValue];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await udp.ReceiveFromAsync(buffer, SocketFlags.None, any, stop.Token);
            }
            catch (Exception e) when (e is SocketException && !stop.IsCancellationRequested)
            {
                continue; // an ICMP error from an earlier send, or an oversized datagram
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            if (!server.TryEnter()) continue;
            _ = AnswerUdpAsync(buffer.AsSpan(0, received.ReceivedBytes).ToArray(), received.RemoteEndPoint);
        }
    }

    async Task AnswerUdpAsync(byte[] query, EndPoint client)
    {
        try
        {
            var reply = await server.AnswerAsync(query, networks, upstreams, overTcp: false, stop.Token, containerId);
            if (reply is not null) await udp.SendToAsync(reply, SocketFlags.None, client, stop.Token);
        }
        catch (Exception e)
        {
            EmbeddedDns.LogServeError(server.Log, containerId, e.Message);
        }
        finally
        {
            server.Leave();
        }
    }

    async Task ServeTcpAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await tcp.AcceptAsync(stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            if (!tcpSlots.Wait(0))
            {
                client.Dispose();
                continue;
            }
            _ = AnswerTcpAsync(client);
        }
    }

    /// <summary>Answers the queries of one connection in turn until the client stops, idles or sends garbage.</summary>
    async Task AnswerTcpAsync(Socket client)
    {
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                idle.CancelAfter(TcpIdleTimeout);
                var query = await DnsTcp.ReadMessageAsync(stream, idle.Token);
                if (query is null) return;
                await server.EnterAsync(idle.Token);
                byte[]? reply;
                try
                {
                    reply = await server.AnswerAsync(query, networks, upstreams, overTcp: true, stop.Token, containerId);
                }
                finally
                {
                    server.Leave();
                }
                if (reply is null) return;
                await DnsTcp.WriteMessageAsync(stream, reply, idle.Token);
            }
        }
        catch (Exception e)
        {
            EmbeddedDns.LogServeError(server.Log, containerId, e.Message);
        }
        finally
        {
            client.Dispose();
            tcpSlots.Release();
        }
    }
}
