using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Berth.Network.Proxy;

/// <summary>
/// UDP has no connections, so the relay keeps a flow per client address: a socket connected to
/// the target that carries that client's datagrams, and whose replies go back to that client
/// from the listening socket. A flow idle for <c>idleTimeout</c> (90 s, like
/// docker-proxy) is closed; the number of flows is bounded so that a flood of spoofed sources
/// cannot exhaust the daemon's file descriptors.
/// </summary>
internal sealed class UdpRelay(Socket listener, IPEndPoint target, TimeSpan idleTimeout) : Relay
{
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(90);
    const int MaxFlows = 1024;

    readonly Socket listener = listener;
    readonly IPEndPoint target = target;
    readonly ConcurrentDictionary<IPEndPoint, Flow> flows = new();

    public override async Task RunAsync(CancellationToken stop)
    {
        var sweeper = SweepAsync(stop);
        var buffer = new byte[ushort.MaxValue];
        EndPoint any = new IPEndPoint(listener.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await listener.ReceiveFromAsync(buffer, SocketFlags.None, any, stop);
            }
            catch (SocketException) when (!stop.IsCancellationRequested)
            {
                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                break;
            }
            var client = (IPEndPoint)received.RemoteEndPoint;
            if (!flows.TryGetValue(client, out var flow))
            {
                if (flows.Count >= MaxFlows) continue;
                flow = new Flow(this, client);
                flows[client] = flow;
            }
            flow.Send(buffer.AsSpan(0, received.ReceivedBytes));
        }
        await sweeper;
    }

    async Task SweepAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(idleTimeout / 3);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var cutoff = Environment.TickCount64 - (long)idleTimeout.TotalMilliseconds;
                foreach (var flow in flows.Values)
                {
                    if (flow.LastActive < cutoff) flow.Close();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public override void CloseAll()
    {
        foreach (var flow in flows.Values) flow.Close();
    }

    sealed class Flow
    {
        readonly UdpRelay relay;
        readonly IPEndPoint client;
        readonly Socket socket;

        public long LastActive { get; private set; } = Environment.TickCount64;

        public Flow(UdpRelay relay, IPEndPoint client)
        {
            this.relay = relay;
            this.client = client;
            socket = new Socket(relay.target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(relay.target);
            _ = RepliesAsync();
        }

        public void Send(ReadOnlySpan<byte> datagram)
        {
            LastActive = Environment.TickCount64;
            try
            {
                socket.Send(datagram);
            }
            catch (SocketException)
            {
                // The target is not listening (yet): UDP drops, the client retries.
            }
            catch (ObjectDisposedException)
            {
            }
        }

        async Task RepliesAsync()
        {
            var buffer = new byte[ushort.MaxValue];
            while (true)
            {
                try
                {
                    int n = await socket.ReceiveAsync(buffer, SocketFlags.None);
                    LastActive = Environment.TickCount64;
                    await relay.listener.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, client);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    // An ICMP port-unreachable for an earlier datagram; the flow stays usable.
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    Close();
                    return;
                }
            }
        }

        public void Close()
        {
            relay.flows.TryRemove(new KeyValuePair<IPEndPoint, Flow>(client, this));
            socket.Dispose();
        }
    }
}
