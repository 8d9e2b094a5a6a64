using System.Net;
using System.Net.Sockets;
using Berth.Interop;
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

    /// <summary>
    /// <see cref="Lookup(string, string)"/> for a query from the container <paramref name="askerId"/>:
    /// names only that container knows (its links' aliases) resolve too.
    /// </summary>
    IReadOnlyList<IPAddress>? Lookup(string networkId, string name, string askerId) => Lookup(networkId, name);

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
    /// that network to the ones its names are looked up in; attaching it with another namespace
    /// (it was restarted) replaces the old sockets. <paramref name="containerUpstreams"/>
    /// overrides the daemon's resolvers for this container (its --dns); an empty list forwards
    /// nothing, which is what an --internal network wants. The namespace's lo must be up.
    /// </summary>
    public void Attach(string containerId, string netnsPath, string networkId, IReadOnlyList<IPEndPoint>? containerUpstreams = null)
    {
        lock (endpoints)
        {
            if (endpoints.TryGetValue(containerId, out var existing))
            {
                if (existing.NetnsPath == netnsPath)
                {
                    existing.AddNetwork(networkId, containerUpstreams);
                    return;
                }
                endpoints.Remove(containerId);
                existing.Stop();
            }
            var (udp, tcp) = NetworkNamespace.Run(netnsPath, OpenSockets);
            var endpoint = new DnsEndpoint(this, containerId, netnsPath, udp, tcp, networkId, containerUpstreams);
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
            RequireLoopbackUp(udp);
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

    /// <summary>
    /// Binding 127.0.0.11 succeeds while the namespace's lo is still down, but such a socket,
    /// once lo comes up, receives queries whose replies never reach the client (seen on kernel
    /// 6.x). So a down lo is an error here rather than a server that silently never answers.
    /// </summary>
    static unsafe void RequireLoopbackUp(Socket socket)
    {
        const ulong SIOCGIFFLAGS = 0x8913;
        const short IFF_UP = 0x1;
        // struct ifreq: char ifr_name[16], then a union whose first member is short ifr_flags.
        byte* ifreq = stackalloc byte[40];
        new Span<byte>(ifreq, 40).Clear();
        "lo"u8.CopyTo(new Span<byte>(ifreq, 16));
        LibC.Check(LibC.Ioctl((int)socket.Handle, SIOCGIFFLAGS, (nint)ifreq), "ioctl SIOCGIFFLAGS", "lo");
        if ((*(short*)(ifreq + 16) & IFF_UP) == 0)
            throw new InvalidOperationException("the embedded DNS server needs the container's lo up before it attaches");
    }

    Socket Bind(SocketType type, ProtocolType protocol)
    {
        var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
        try
        {
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
        IReadOnlyList<IPEndPoint>? containerUpstreams, bool overTcp, CancellationToken cancel, string askerId = "")
    {
        switch (DnsWire.TryParseQuery(message, out var query))
        {
            case QueryParse.Drop: return null;
            case QueryParse.FormatError: return DnsWire.HeaderOnly(query, DnsRcode.FormErr);
            case QueryParse.NotImplemented: return DnsWire.HeaderOnly(query, DnsRcode.NotImp);
        }
        int maxSize = overTcp ? ushort.MaxValue : query.MaxUdpResponse;
        var local = AnswerLocally(query.Question, networks, askerId);
        if (local is not null) return DnsWire.BuildReply(message, query, DnsRcode.NoError, local, maxSize);

        var reply = await Forwarder.ForwardAsync(message, overTcp, maxSize, containerUpstreams ?? upstreams, cancel);
        if (reply is not null) return reply;
        LogUpstreamsFailed(log, query.Question.Name, query.Question.Type);
        return DnsWire.BuildReply(message, query, DnsRcode.ServFail, [], maxSize, authoritative: false);
    }

    /// <summary>Records for a name of ours (possibly none: a container with no IPv6 has no AAAA), or null to forward.</summary>
    List<DnsRecord>? AnswerLocally(DnsQuestion question, IReadOnlyList<string> networks, string askerId)
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
            if (names.Lookup(network, name, askerId) is not { } addresses) continue;
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

    [LoggerMessage(EventId = 650, Level = LogLevel.Debug, Message = "embedded DNS serving container {Id} on network {Network}")]
    static partial void LogAttached(ILogger log, string id, string network);

    // Debug, not Warning: on a host without outside connectivity every external lookup ends here.
    [LoggerMessage(EventId = 651, Level = LogLevel.Debug, Message = "embedded DNS: no upstream answered {Name} {Type}")]
    static partial void LogUpstreamsFailed(ILogger log, string name, DnsType type);

    [LoggerMessage(EventId = 652, Level = LogLevel.Debug, Message = "embedded DNS for container {Id}: {Error}")]
    internal static partial void LogServeError(ILogger log, string id, string error);
}
