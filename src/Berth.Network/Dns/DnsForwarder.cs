using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Berth.Network.Dns;

/// <summary>
/// Sends the queries the embedded server does not answer itself to the upstream resolvers. Its
/// sockets are ordinary daemon sockets, opened in the daemon's own network namespace, so a
/// loopback resolver on the host (127.0.0.53, a local dnsmasq) works as an upstream although
/// the container could never reach it. Each query gets a fresh socket (a random source port);
/// replies whose id does not match are ignored.
/// </summary>
internal sealed class DnsForwarder
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>
    /// The first upstream reply, or null if every upstream failed or timed out. A UDP reply with
    /// TC set is retried over TCP with the same upstream; the TCP answer is used when it fits the
    /// client's UDP size, otherwise the truncated one goes back and the client retries over TCP.
    /// </summary>
    public async Task<byte[]?> ForwardAsync(byte[] query, bool overTcp, int maxUdpResponse,
        IReadOnlyList<IPEndPoint> upstreams, CancellationToken cancel)
    {
        ushort id = DnsWire.Id(query);
        foreach (var upstream in upstreams)
        {
            try
            {
                if (overTcp) return await ExchangeTcpAsync(query, id, upstream, cancel);
                var reply = await ExchangeUdpAsync(query, id, upstream, cancel);
                if (!DnsWire.IsTruncated(reply)) return reply;
                try
                {
                    var full = await ExchangeTcpAsync(query, id, upstream, cancel);
                    return full.Length <= maxUdpResponse ? full : reply;
                }
                catch (Exception e) when (UpstreamFailed(e, cancel))
                {
                    return reply;
                }
            }
            catch (Exception e) when (UpstreamFailed(e, cancel))
            {
                // Try the next upstream.
            }
        }
        return null;
    }

    async Task<byte[]> ExchangeUdpAsync(byte[] query, ushort id, IPEndPoint upstream, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(Timeout);
        using var socket = new Socket(upstream.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(upstream, timeout.Token);
        await socket.SendAsync(query, SocketFlags.None, timeout.Token);
        var buffer = new byte[65535];
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (IsReplyTo(buffer.AsSpan(0, n), id)) return buffer.AsSpan(0, n).ToArray();
        }
    }

    async Task<byte[]> ExchangeTcpAsync(byte[] query, ushort id, IPEndPoint upstream, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(Timeout);
        using var socket = new Socket(upstream.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(upstream, timeout.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await DnsTcp.WriteMessageAsync(stream, query, timeout.Token);
        var reply = await DnsTcp.ReadMessageAsync(stream, timeout.Token)
            ?? throw new InvalidDataException("upstream closed the connection without a reply");
        return IsReplyTo(reply, id) ? reply : throw new InvalidDataException("upstream reply does not match the query");
    }

    /// <summary>A failure of one upstream (unreachable, timed out, garbled), as opposed to the caller giving up.</summary>
    static bool UpstreamFailed(Exception e, CancellationToken cancel) =>
        e is SocketException or OperationCanceledException or IOException or InvalidDataException && !cancel.IsCancellationRequested;

    static bool IsReplyTo(ReadOnlySpan<byte> reply, ushort id) =>
        reply.Length >= DnsWire.HeaderSize && DnsWire.IsResponse(reply) && DnsWire.Id(reply) == id;
}

/// <summary>DNS over TCP frames every message with a big-endian 16-bit length (RFC 1035 §4.2.2).</summary>
internal static class DnsTcp
{
    /// <summary>The next message, or null at a clean end of stream between messages.</summary>
    public static async Task<byte[]?> ReadMessageAsync(Stream stream, CancellationToken cancel)
    {
        var prefix = new byte[2];
        int got = await stream.ReadAtLeastAsync(prefix, 2, throwOnEndOfStream: false, cancel);
        if (got == 0) return null;
        if (got < 2) throw new EndOfStreamException();
        var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        await stream.ReadExactlyAsync(message, cancel);
        return message;
    }

    public static async Task WriteMessageAsync(Stream stream, byte[] message, CancellationToken cancel)
    {
        var framed = new byte[2 + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)message.Length);
        message.CopyTo(framed, 2);
        await stream.WriteAsync(framed, cancel);
    }
}
