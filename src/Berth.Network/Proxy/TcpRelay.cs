using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Berth.Network.Proxy;

/// <summary>
/// TCP: each accepted connection gets its own connection to the target, and bytes are copied
/// both ways. When one side ends its stream the proxy passes the half-close on (shutdown of
/// the write side) and keeps the other direction flowing; a reset or error on either side
/// closes both. A target that refuses the connection gets the client's connection closed.
/// </summary>
internal sealed class TcpRelay(Socket listener, IPEndPoint target) : Relay
{
    const int BufferSize = 64 * 1024;
    static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    readonly ConcurrentDictionary<Socket, byte> live = new();

    public override async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stop);
            }
            catch (SocketException e) when (!stop.IsCancellationRequested && e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = RelayAsync(client, stop);
        }
    }

    async Task RelayAsync(Socket client, CancellationToken stop)
    {
        var upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        live.TryAdd(client, 0);
        live.TryAdd(upstream, 0);
        try
        {
            client.NoDelay = true;
            upstream.NoDelay = true;
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(stop))
            {
                connect.CancelAfter(ConnectTimeout);
                await upstream.ConnectAsync(target, connect.Token);
            }
            await Task.WhenAll(CopyAsync(client, upstream), CopyAsync(upstream, client));
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The target is down or the proxy is stopping: closing the client says so.
        }
        finally
        {
            Close(client);
            Close(upstream);
        }
    }

    async Task CopyAsync(Socket from, Socket to)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer.AsMemory(0, BufferSize), SocketFlags.None)) > 0)
            {
                for (int sent = 0; sent < n;)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None);
                }
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // One side reset or went away: nothing sensible can continue in either direction.
            Close(from);
            Close(to);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    void Close(Socket socket)
    {
        live.TryRemove(socket, out _);
        socket.Dispose();
    }

    public override void CloseAll()
    {
        foreach (var socket in live.Keys) Close(socket);
    }
}
