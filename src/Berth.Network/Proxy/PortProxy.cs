using System.Net;
using System.Net.Sockets;

namespace Berth.Network.Proxy;

/// <summary>
/// The userland proxy of one published port (Docker's docker-proxy, in the daemon): it listens on
/// the host address and relays every TCP connection or UDP flow to the container's address. The
/// DNAT rules carry traffic from outside; the proxy serves what those rules cannot see, such as
/// connections to 127.0.0.1:HOSTPORT from the host itself. Holding the listening socket also
/// reserves the port, so a second container cannot publish it.
/// </summary>
public sealed class PortProxy : IAsyncDisposable
{
    readonly Socket listener;
    readonly Relay relay;
    readonly CancellationTokenSource stop = new();
    readonly Task loop;

    public ProtocolType Protocol { get; }
    /// <summary>The address actually listened on: with port 0 asked for, the port the kernel chose.</summary>
    public IPEndPoint Listen { get; }
    public IPEndPoint Target { get; }

    PortProxy(ProtocolType protocol, Socket listener, Relay relay, IPEndPoint target)
    {
        Protocol = protocol;
        this.listener = listener;
        this.relay = relay;
        Listen = (IPEndPoint)listener.LocalEndPoint!;
        Target = target;
        loop = Task.Run(() => relay.RunAsync(stop.Token));
    }

    /// <summary>Binds <paramref name="listen"/> (port 0 = any free port) and starts relaying to <paramref name="target"/>.</summary>
    /// <exception cref="PortInUseException">The address is already bound.</exception>
    public static PortProxy Start(ProtocolType proto, IPEndPoint listen, IPEndPoint target) =>
        Start(proto, listen, target, UdpRelay.DefaultIdleTimeout);

    internal static PortProxy Start(ProtocolType proto, IPEndPoint listen, IPEndPoint target, TimeSpan udpIdleTimeout)
    {
        if (proto is not (ProtocolType.Tcp or ProtocolType.Udp)) throw new ArgumentException($"unsupported protocol {proto}", nameof(proto));
        var socket = new Socket(listen.AddressFamily, proto == ProtocolType.Tcp ? SocketType.Stream : SocketType.Dgram, proto);
        try
        {
            // 0.0.0.0 and :: are separate bindings, as in Docker; one must not take the other's port.
            if (listen.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
            if (proto == ProtocolType.Tcp)
            {
                // SO_REUSEADDR alone (not .NET's ReuseAddress, which adds SO_REUSEPORT and would let a
                // second proxy bind the same port): it only lets a restart reuse a port in TIME_WAIT.
                const int SOL_SOCKET = 1, SO_REUSEADDR = 2;
                socket.SetRawSocketOption(SOL_SOCKET, SO_REUSEADDR, BitConverter.GetBytes(1));
            }
            try
            {
                socket.Bind(listen);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new PortInUseException(listen, e);
            }
            Relay relay;
            if (proto == ProtocolType.Tcp)
            {
                socket.Listen(512);
                relay = new TcpRelay(socket, target);
            }
            else
            {
                relay = new UdpRelay(socket, target, udpIdleTimeout);
            }
            return new PortProxy(proto, socket, relay, target);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Stops listening and closes every live connection and flow.</summary>
    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        listener.Dispose();
        relay.CloseAll();
        await loop;
        stop.Dispose();
    }
}

/// <summary>The protocol-specific half of a <see cref="PortProxy"/>.</summary>
internal abstract class Relay
{
    /// <summary>Serves until the listener is closed or <paramref name="stop"/> fires.</summary>
    public abstract Task RunAsync(CancellationToken stop);

    /// <summary>Closes the connections or flows that are open.</summary>
    public abstract void CloseAll();
}
