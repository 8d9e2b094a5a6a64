using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Network.Dns;

/// <summary>What the embedded DNS server knows about the containers on a network.</summary>
public interface IDnsNames
{
    /// <summary>
    /// The addresses of the container called <paramref name="name"/> (its name, short id or an
    /// alias; lower case, no trailing dot) on <paramref name="networkId"/>; null if the name is not
    /// one of that network's, so the query goes upstream.
    /// </summary>
    IReadOnlyList<IPAddress>? Lookup(string networkId, string name);

    /// <summary>For PTR queries: the name of the container holding <paramref name="address"/> on the network, or null.</summary>
    string? ReverseLookup(string networkId, IPAddress address) => null;
}

/// <summary>
/// Docker's embedded DNS server: 127.0.0.11:53 inside each attached container's network
/// namespace. Names of containers on the container's networks are answered here (TTL 600, as
/// Docker does); everything else is forwarded to the upstream resolvers. One instance serves
/// every container: each attachment is a UDP and a TCP socket created inside the container's
/// netns, and all of them are served by the daemon's ordinary async I/O.
/// </summary>
public sealed partial class EmbeddedDns : IAsyncDisposable
{
    public static readonly IPAddress Address = IPAddress.Parse("127.0.0.11");
    public const int Port = 53;

    /// <summary>Queries being answered at once, over all containers; UDP queries beyond it are dropped (the client retries).</summary>
    internal const int MaxInflight = 256;

    readonly IDnsNames names;
    readonly IReadOnlyList<IPEndPoint> upstreams;
    readonly ILogger log;
    readonly Dictionary<string, DnsEndpoint> endpoints = new();
    readonly SemaphoreSlim inflight = new(MaxInflight);

    internal DnsForwarder Forwarder { get; init; } = new();

    public EmbeddedDns(IDnsNames names, IReadOnlyList<IPEndPoint> upstreams, ILogger? log = null)
    {
        this.names = names;
        this.upstreams = upstreams;
        this.log = log ?? NullLogger.Instance;
    }

    /// <summary>
    /// Starts serving in the network namespace at <paramref name="netnsPath"/> for a container on
    /// <paramref name="networkId"/>. Attaching a container again (it joined another network) adds
    /// that network to the ones its names are looked up in. <paramref name="containerUpstreams"/>
    /// overrides the daemon's resolvers for this container (its --dns); an empty list forwards
    /// nothing, which is what an --internal network wants.
    /// </summary>
    public void Attach(string containerId, string netnsPath, string networkId, IReadOnlyList<IPEndPoint>? containerUpstreams = null)
    {
        lock (endpoints)
        {
            if (endpoints.TryGetValue(containerId, out var existing))
            {
                existing.AddNetwork(networkId, containerUpstreams);
                return;
            }
            var (udp, tcp) = NetworkNamespace.Run(netnsPath, OpenSockets);
            var endpoint = new DnsEndpoint(this, containerId, udp, tcp, networkId, containerUpstreams);
            endpoints.Add(containerId, endpoint);
            endpoint.Start();
        }
        LogAttached(log, containerId, networkId);
    }

    /// <summary>Stops serving the container's namespace. Unknown ids are ignored (detach is part of cleanup).</summary>
    public void Detach(string containerId)
    {
        DnsEndpoint? endpoint;
        lock (endpoints)
        {
            if (!endpoints.Remove(containerId, out endpoint)) return;
        }
        endpoint.Stop();
    }

    /// <summary>The container left one network; once it is on none, serving stops.</summary>
    public void Detach(string containerId, string networkId)
    {
        lock (endpoints)
        {
            if (!endpoints.TryGetValue(containerId, out var endpoint) || endpoint.RemoveNetwork(networkId)) return;
            endpoints.Remove(containerId);
            endpoint.Stop();
        }
    }

    public async ValueTask DisposeAsync()
    {
        DnsEndpoint[] all;
        lock (endpoints)
        {
            all = endpoints.Values.ToArray();
            endpoints.Clear();
        }
        foreach (var endpoint in all) endpoint.Stop();
        await Task.WhenAll(all.Select(e => e.Completion));
    }

    /// <summary>
    /// The nameservers of a resolv.conf, on port 53. Loopback ones are kept: the forwarder's
    /// sockets live in the daemon's netns, where a host-local resolver is reachable. A missing or
    /// empty file gives none; then only container names resolve and the rest gets SERVFAIL.
    /// </summary>
    public static IReadOnlyList<IPEndPoint> HostUpstreams(string resolvConfPath = "/etc/resolv.conf")
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(resolvConfPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
        var result = new List<IPEndPoint>();
        foreach (var line in lines)
        {
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && fields[0] == "nameserver" && IPAddress.TryParse(fields[1], out var address))
            {
                var upstream = new IPEndPoint(address, Port);
                if (!result.Contains(upstream)) result.Add(upstream);
            }
        }
        return result;
    }

    (Socket Udp, Socket Tcp) OpenSockets()
    {
        var udp = Bind(SocketType.Dgram, ProtocolType.Udp);
        try
        {
            var tcp = Bind(SocketType.Stream, ProtocolType.Tcp);
            tcp.Listen(64);
            return (udp, tcp);
        }
        catch
        {
            udp.Dispose();
            throw;
        }
    }

    Socket Bind(SocketType type, ProtocolType protocol)
    {
        const int IPPROTO_IP = 0, IP_FREEBIND = 15;
        var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
        try
        {
            // The container's lo may not be up yet when it is attached; FREEBIND lets the bind
            // succeed now and the address works as soon as lo is.
            socket.SetRawSocketOption(IPPROTO_IP, IP_FREEBIND, BitConverter.GetBytes(1));
            socket.Bind(new IPEndPoint(Address, Port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal bool TryEnter() => inflight.Wait(0);
    internal Task EnterAsync(CancellationToken cancel) => inflight.WaitAsync(cancel);
    internal void Leave() => inflight.Release();
    internal ILogger Log => log;

    /// <summary>The reply to one query, or null when it deserves none.</summary>
    internal async Task<byte[]?> AnswerAsync(byte[] message, IReadOnlyList<string> networks,
        IReadOnlyList<IPEndPoint>? containerUpstreams, bool overTcp, CancellationToken cancel)
    {
        switch (DnsWire.TryParseQuery(message, out var query))
        {
            case QueryParse.Drop: return null;
            case QueryParse.FormatError: return DnsWire.HeaderOnly(query, DnsRcode.FormErr);
            case QueryParse.NotImplemented: return DnsWire.HeaderOnly(query, DnsRcode.NotImp);
        }
        int maxSize = overTcp ? ushort.MaxValue : query.MaxUdpResponse;
        var local = AnswerLocally(query.Question, networks);
        if (local is not null) return DnsWire.BuildReply(message, query, DnsRcode.NoError, local, maxSize);

        var reply = await Forwarder.ForwardAsync(message, overTcp, maxSize, containerUpstreams ?? upstreams, cancel);
        if (reply is not null) return reply;
        LogUpstreamsFailed(log, query.Question.Name, query.Question.Type);
        return DnsWire.BuildReply(message, query, DnsRcode.ServFail, [], maxSize, authoritative: false);
    }

    /// <summary>Records for a name of ours (possibly none: a container with no IPv6 has no AAAA), or null to forward.</summary>
    List<DnsRecord>? AnswerLocally(DnsQuestion question, IReadOnlyList<string> networks)
    {
        const ushort ClassIn = 1;
        if (question.Class != ClassIn || question.Name.Length == 0) return null;
        if (question.Type == DnsType.PTR)
        {
            if (DnsWire.ParseReverseName(question.Name) is not { } address) return null;
            foreach (var network in networks)
            {
                if (names.ReverseLookup(network, address) is { } target) return [DnsRecord.Pointer(target)];
            }
            return null;
        }
        var name = question.Name.ToLowerInvariant();
        foreach (var network in networks)
        {
            if (names.Lookup(network, name) is not { } addresses) continue;
            var family = question.Type switch
            {
                DnsType.A => AddressFamily.InterNetwork,
                DnsType.AAAA => AddressFamily.InterNetworkV6,
                DnsType.ANY => AddressFamily.Unspecified,
                _ => AddressFamily.Unknown,
            };
            return addresses
                .Where(a => family == AddressFamily.Unspecified || a.AddressFamily == family)
                .Select(DnsRecord.For)
                .ToList();
        }
        return null;
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Debug, Message = "embedded DNS serving container {Id} on network {Network}")]
    static partial void LogAttached(ILogger log, string id, string network);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "embedded DNS: no upstream answered {Name} {Type}")]
    static partial void LogUpstreamsFailed(ILogger log, string name, DnsType type);

    [LoggerMessage(EventId = 602, Level = LogLevel.Debug, Message = "embedded DNS for container {Id}: {Error}")]
    internal static partial void LogServeError(ILogger log, string id, string error);
}
