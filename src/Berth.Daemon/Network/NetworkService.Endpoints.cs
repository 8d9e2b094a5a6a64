using System.Net;
using System.Net.Sockets;
using Berth.Api;
using Berth.Daemon.Containers;
using Berth.Daemon.Engine;
using Berth.Network;
using Berth.Network.Netlink;
using Berth.Network.Proxy;

namespace Berth.Daemon.Network;

/// <summary>
/// What a container's files and process need from its network: its addresses for /etc/hosts,
/// whether the embedded DNS serves it, and its links' /etc/hosts entries (in --add-host's
/// NAME:IP form) and environment variables.
/// </summary>
public sealed record NetworkFilesInfo(IPAddress? Address, IPAddress? Address6, bool EmbeddedDns, IPAddress? HostGateway, IReadOnlyList<string> LinkHosts, IReadOnlyList<string> LinkEnv);

// The container hooks: create (validate and record the networks), start (addresses and ports
// before the process exists, veths once its namespace does), exit (undo all of it).
public sealed partial class NetworkService
{
    /// <summary>Validates the network part of a create request and records which networks the container joins.</summary>
    public void PrepareCreate(ContainerRecord r, NetworkingConfig? networking)
    {
        var h = r.HostConfig;
        if (string.IsNullOrEmpty(h.NetworkMode)) h.NetworkMode = "default";
        var mode = h.NetworkMode;
        bool publishes = (h.PortBindings?.Values.Any(v => v is { Count: > 0 }) ?? false) || h.PublishAllPorts;
        if (mode.StartsWith("container:", StringComparison.Ordinal))
        {
            var target = _containers.Get(mode["container:".Length..]);
            if (target.Id == r.Id) throw ApiException.BadRequest("cannot join own network");
            if (publishes) throw ApiException.BadRequest("conflicting options: port publishing and the container type network mode");
            if (h.Dns is { Count: > 0 } || h.ExtraHosts is { Count: > 0 })
                throw ApiException.BadRequest("conflicting options: dns and the network mode");
            if (h.Links is { Count: > 0 })
                throw ApiException.BadRequest("conflicting options: container type network can't be used with links. This would result in undefined behavior");
            h.NetworkMode = "container:" + target.Id;
            return;
        }
        if (mode == "host" && h.Links is { Count: > 0 })
            throw ApiException.BadRequest("conflicting options: host type networking can't be used with links. This would result in undefined behavior");
        PrepareLinks(r);
        if (mode is "host" or "none")
        {
            r.Networks = new() { [mode] = new EndpointSettings { NetworkID = Find(mode).Id } };
            return;
        }
        if (!Enabled && mode is "default" or "bridge") return;
        var n = Find(ModeNetwork(mode));
        if (n.Driver != "bridge") throw ApiException.BadRequest($"container cannot be connected to network {n.Name}");
        if (publishes)
            foreach (var key in h.PortBindings?.Keys ?? Enumerable.Empty<string>()) ParsePortKey(key);
        var requested = networking?.EndpointsConfig is { } eps
            ? eps.FirstOrDefault(e => e.Key == n.Name || e.Key == n.Id || e.Key == mode).Value : null;
        r.Networks = new() { [n.Name] = NewEndpointConfig(n, requested, $"invalid config for network {n.Name}: ") };
        // Docker takes further networks only through `network connect`; the CLI does exactly that.
    }

    /// <summary>
    /// The endpoint a container asks for on <paramref name="n"/>, checked as Docker checks it: fixed
    /// addresses only on user networks, of the right family and inside the network's subnet
    /// (an --ip6 needs a network with IPv6). <paramref name="context"/> prefixes errors, as
    /// create's "invalid config for network NAME: ".
    /// </summary>
    EndpointSettings NewEndpointConfig(NetworkRecord n, EndpointSettings? requested, string context)
    {
        string? ip = requested?.IPAMConfig?.IPv4Address, ip6 = requested?.IPAMConfig?.IPv6Address;
        bool fixedAddress = !string.IsNullOrEmpty(ip) || !string.IsNullOrEmpty(ip6);
        if (fixedAddress && n.IsDefaultBridge) throw ApiException.BadRequest("user specified IP address is supported on user defined networks only");
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(ip))
        {
            if (!IPAddress.TryParse(ip, out var a) || a.AddressFamily != AddressFamily.InterNetwork || a.Equals(IPAddress.Any))
                errors.Add($"invalid IPv4 address: {ip}");
            else if (!n.ParsedSubnet.Contains(a)) errors.Add($"no configured subnet or ip-range contain the IP address {ip}");
        }
        if (!string.IsNullOrEmpty(ip6))
        {
            if (!IPAddress.TryParse(ip6, out var a) || a.AddressFamily != AddressFamily.InterNetworkV6 || a.Equals(IPAddress.IPv6Any))
                errors.Add($"invalid IPv6 address: {ip6}");
            else if (!n.HasIPv6) errors.Add("user specified IP address is supported only when connecting to networks with user configured subnets");
            else if (!n.ParsedSubnet6.Contains(a)) errors.Add($"no configured subnet or ip-range contain the IP address {ip6}");
        }
        if (errors.Count > 0) throw ApiException.BadRequest($"{context}invalid endpoint settings:\n{string.Join("\n", errors)}");
        if (n.IsDefaultBridge && requested?.Aliases is { Count: > 0 })
            throw ApiException.BadRequest("network-scoped alias is supported only for containers in user defined networks");
        return new EndpointSettings
        {
            NetworkID = n.Id,
            IPAMConfig = fixedAddress ? new EndpointIpamConfig { IPv4Address = string.IsNullOrEmpty(ip) ? null : ip, IPv6Address = string.IsNullOrEmpty(ip6) ? null : ip6 } : null,
            Aliases = requested?.Aliases is { Count: > 0 } al ? al.ToList() : null,
            DriverOpts = requested?.DriverOpts,
        };
    }

    /// <summary>
    /// The container's addresses on the network from IPAM (its fixed ones when asked for), and the
    /// endpoint's operational fields; the IPv6 ones only on a network with IPv6.
    /// </summary>
    void AssignAddresses(Container c, NetworkRecord n, EndpointSettings ep)
    {
        try
        {
            var ip = _store.Allocate(n, c.Id, ep.IPAMConfig?.IPv4Address is { Length: > 0 } s ? IPAddress.Parse(s) : null);
            ep.NetworkID = n.Id;
            ep.IPAddress = ip.ToString();
            ep.IPPrefixLen = n.ParsedSubnet.PrefixLength;
            ep.Gateway = n.Internal ? "" : n.Gateway;
            ep.MacAddress = FormatMac(Berth.Network.Bridge.BridgeDriver.MacFor(ip));
            if (n.HasIPv6)
            {
                var ip6 = _store.Allocate(n, c.Id, ep.IPAMConfig?.IPv6Address is { Length: > 0 } s6 ? IPAddress.Parse(s6) : null, ipv6: true);
                ep.GlobalIPv6Address = ip6.ToString();
                ep.GlobalIPv6PrefixLen = n.ParsedSubnet6.PrefixLength;
                ep.IPv6Gateway = n.Internal ? "" : n.Gateway6;
            }
            ep.EndpointID = NewId();
        }
        catch (IpamException e) { throw ApiException.BadRequest(e.Message); }
    }

    /// <summary>
    /// Before the container's process exists: an address on each of its networks and its published
    /// ports taken. Nothing is left held when this throws (a taken port, an exhausted subnet).
    /// </summary>
    public NetworkFilesInfo PrepareStart(Container c)
    {
        var r = c.Record;
        var hostGateway = ByName("bridge") is { Driver: "bridge" } b && Enabled ? b.GatewayAddress : null;
        if (!Enabled || r.HostConfig.NetworkMode is "host" or "none" || r.HostConfig.NetworkMode.StartsWith("container:", StringComparison.Ordinal))
            return new NetworkFilesInfo(null, null, false, hostGateway, [], []);
        var (linkHosts, linkEnv) = ResolveLinks(r);
        try
        {
            foreach (var (name, ep) in r.Networks)
                AssignAddresses(c, Find(ep.NetworkID.Length > 0 ? ep.NetworkID : name), ep);
            AssignPorts(r);
            HoldPorts(c);
        }
        catch
        {
            Teardown(c).AsTask().GetAwaiter().GetResult();
            throw;
        }
        var primary = PrimaryNetwork(r);
        var pe = primary is not null ? r.Networks.GetValueOrDefault(primary.Name) : null;
        var addr = pe is { IPAddress.Length: > 0 } ? IPAddress.Parse(pe.IPAddress) : null;
        var addr6 = pe is { GlobalIPv6Address.Length: > 0 } ? IPAddress.Parse(pe.GlobalIPv6Address) : null;
        bool dns = r.Networks.Keys.Any(k => ByName(k) is { IsDefaultBridge: false, Driver: "bridge" });
        return new NetworkFilesInfo(addr, addr6, dns, hostGateway, linkHosts, linkEnv);
    }

    /// <summary>Once the container's namespace exists (its init is waiting to start): loopback, veths, DNS, firewall.</summary>
    public void Connect(Container c, int pid)
    {
        var r = c.Record;
        if (r.HostConfig.NetworkMode == "host" || r.HostConfig.NetworkMode.StartsWith("container:", StringComparison.Ordinal)) return;
        var netns = NetnsOf(pid);
        if (!Enabled || r.HostConfig.NetworkMode == "none")
        {
            using var nl = Rtnl.OpenIn(netns);
            nl.SetUp(nl.RequireLink("lo").Index);
            return;
        }
        int i = 0;
        foreach (var (name, ep) in r.Networks.OrderBy(kv => kv.Key == PrimaryNetwork(r)?.Name ? 0 : 1))
            AttachEndpoint(c, netns, Find(ep.NetworkID), ep, "eth" + i++);
        ApplyFirewall();
    }

    void AttachEndpoint(Container c, string netns, NetworkRecord n, EndpointSettings ep, string ifname)
    {
        var endpoint = _driver!.Attach(n, netns, ifname, IPAddress.Parse(ep.IPAddress),
            ep.GlobalIPv6Address.Length > 0 ? IPAddress.Parse(ep.GlobalIPv6Address) : null);
        lock (c.Record) c.Record.NetworkState.HostVeths[n.Id] = endpoint.HostVeth;
        if (!n.IsDefaultBridge && _dns is not null)
            _dns.Attach(c.Id, netns, n.Id, DnsUpstreams(c.Record, n));
    }

    /// <summary>Undoes start's work when the container stops: veths, addresses, ports, DNS, firewall rules. Never throws; failures are logged.</summary>
    public async ValueTask Teardown(Container c)
    {
        try { await TeardownCore(c); }
        catch (Exception e) { LogTeardownFailed(c.Id, e.Message); }
    }

    async ValueTask TeardownCore(Container c)
    {
        var r = c.Record;
        List<IAsyncDisposable>? holders;
        lock (_lock) _portHolders.Remove(c.Id, out holders);
        foreach (var h in holders ?? []) await h.DisposeAsync();
        _dns?.Detach(c.Id);
        Dictionary<string, string> veths;
        lock (r) { veths = new(r.NetworkState.HostVeths); r.NetworkState.HostVeths.Clear(); }
        if (veths.Count > 0) DetachLater(c.Id, veths.Values.ToList());
        bool hadPorts = r.NetworkState.Ports.Count > 0;
        lock (r)
        {
            r.NetworkState.Ports.Clear();
            foreach (var ep in r.Networks.Values)
            {
                if (ep.NetworkID.Length > 0) _store.Release(ep.NetworkID, c.Id, ep.GlobalIPv6Address.Length > 0);
                ep.IPAddress = ""; ep.IPPrefixLen = 0; ep.Gateway = ""; ep.MacAddress = ""; ep.EndpointID = "";
                ep.GlobalIPv6Address = ""; ep.GlobalIPv6PrefixLen = 0; ep.IPv6Gateway = "";
            }
        }
        // Links' holes through ICC off follow their containers; the table is rewritten only when its text changed.
        if (hadPorts || Bridges().Any(b => !b.Icc))
            try { ApplyFirewall(); }
            catch (Exception e) { LogTeardownFailed(c.Id, e.Message); }
    }

    /// <summary>
    /// Deletes veths behind the container's exit rather than before it is reported: the kernel
    /// waits for RCU grace periods to delete a link (tens of milliseconds on a busy host), and
    /// nothing after teardown needs the link gone (its address is free again, its name is never
    /// reused). The deletions run one after another; shutdown waits for them, and a crash before
    /// they ran leaves veths that <see cref="Reconcile"/> removes as stale.
    /// </summary>
    void DetachLater(string containerId, List<string> veths)
    {
        lock (_lock)
            _detaching = _detaching.ContinueWith(_ =>
            {
                foreach (var veth in veths)
                    try { _driver?.Detach(veth); }
                    catch (Exception e) { LogTeardownFailed(containerId, e.Message); }
            }, TaskScheduler.Default);
    }

    // ---- published ports ----

    /// <summary>
    /// Fills NetworkState.Ports from -p (PortBindings) and -P (every exposed port, random host
    /// port). Host ports stay as asked ("", "8080", "8000-8010"); <see cref="HoldPorts"/> makes them concrete.
    /// </summary>
    static void AssignPorts(ContainerRecord r)
    {
        var ports = new Dictionary<string, List<PortBinding>?>();
        foreach (var (key, bindings) in r.HostConfig.PortBindings ?? new())
            if (bindings is { Count: > 0 }) ports[Normalise(key)] = bindings.Select(b => new PortBinding { HostIp = b.HostIp, HostPort = b.HostPort }).ToList();
        if (r.HostConfig.PublishAllPorts)
            foreach (var key in r.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
                ports.TryAdd(Normalise(key), [new PortBinding { HostIp = "", HostPort = "" }]);
        r.NetworkState.Ports = ports;
    }

    static string Normalise(string key) => key.Contains('/') ? key.ToLowerInvariant() : key + "/tcp";

    /// <summary>
    /// Takes every published port: a proxy (or a held socket) per binding. All or nothing. On a
    /// network with IPv6, a port published on every address (no host IP) is also published on
    /// [::] with the same port number, as Docker does, reaching the container's IPv6 address;
    /// that second binding is best effort (another program may hold the port on IPv6 only).
    /// </summary>
    void HoldPorts(Container c)
    {
        var r = c.Record;
        var n = PrimaryNetwork(r);
        if (n is null || r.NetworkState.Ports.Count == 0) return;
        var ep = r.Networks[n.Name];
        var target = IPAddress.Parse(ep.IPAddress);
        var target6 = ep.GlobalIPv6Address.Length > 0 ? IPAddress.Parse(ep.GlobalIPv6Address) : null;
        var held = new List<IAsyncDisposable>();
        try
        {
            foreach (var (key, bindings) in r.NetworkState.Ports)
            {
                if (bindings is null) continue;
                var (cport, proto) = ParsePortKey(key);
                foreach (var b in bindings.ToList())
                {
                    bool everyAddress = string.IsNullOrEmpty(b.HostIp);
                    var hostIp = everyAddress ? IPAddress.Any : IPAddress.TryParse(b.HostIp, out var hip) ? hip
                        : throw ApiException.BadRequest($"invalid IP address: {b.HostIp}");
                    var to = hostIp.AddressFamily == AddressFamily.InterNetworkV6 && target6 is not null ? target6 : target;
                    var (first, last) = PortRange(b.HostPort);
                    Exception? lastError = null;
                    IAsyncDisposable? holder = null;
                    int bound = 0;
                    for (int p = first; p <= last && holder is null; p++)
                    {
                        try { (holder, bound) = Hold(proto, new IPEndPoint(hostIp, p), new IPEndPoint(to, cport)); }
                        catch (PortInUseException e) { lastError = e; }
                    }
                    if (holder is null)
                        throw new ApiException(500, $"driver failed programming external connectivity on endpoint {c.Name.TrimStart('/')} ({c.Id}): {lastError?.Message}");
                    held.Add(holder);
                    b.HostIp = hostIp.ToString();
                    b.HostPort = bound.ToString();
                    if (everyAddress && target6 is not null)
                    {
                        try
                        {
                            held.Add(Hold(proto, new IPEndPoint(IPAddress.IPv6Any, bound), new IPEndPoint(target6, cport)).Holder);
                            bindings.Add(new PortBinding { HostIp = "::", HostPort = b.HostPort });
                        }
                        catch (PortInUseException e) { LogIpv6PortSkipped(c.Id, e.Message); }
                    }
                }
            }
        }
        catch
        {
            foreach (var h in held) h.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        lock (_lock) _portHolders[c.Id] = held;
    }

    static (int First, int Last) PortRange(string hostPort)
    {
        if (string.IsNullOrEmpty(hostPort)) return (0, 0);
        var dash = hostPort.IndexOf('-');
        if (dash < 0)
            return int.TryParse(hostPort, out var p) && p is >= 0 and <= 65535 ? (p, p) : throw ApiException.BadRequest($"invalid hostPort: {hostPort}");
        if (int.TryParse(hostPort[..dash], out var a) && int.TryParse(hostPort[(dash + 1)..], out var z) && a is >= 1 and <= 65535 && z >= a && z <= 65535)
            return (a, z);
        throw ApiException.BadRequest($"invalid hostPort: {hostPort}");
    }

    (IAsyncDisposable Holder, int Port) Hold(ProtocolType proto, IPEndPoint listen, IPEndPoint target)
    {
        if (_options.UserlandProxy)
        {
            var proxy = PortProxy.Start(proto, listen, target);
            return (proxy, proxy.Listen.Port);
        }
        var held = HeldPort.Bind(proto, listen);
        return (held, held.Port);
    }

    static string FormatMac(System.Net.NetworkInformation.PhysicalAddress mac) =>
        string.Join(':', mac.GetAddressBytes().Select(x => x.ToString("x2")));

    /// <summary>
    /// Without the userland proxy, a bound (unused) socket still reserves the host port, so a
    /// second container or another program cannot take it while DNAT sends its traffic to the container.
    /// </summary>
    sealed class HeldPort(Socket socket) : IAsyncDisposable
    {
        public int Port => ((IPEndPoint)socket.LocalEndPoint!).Port;

        public static HeldPort Bind(ProtocolType proto, IPEndPoint listen)
        {
            var s = new Socket(listen.AddressFamily, proto == ProtocolType.Udp ? SocketType.Dgram : SocketType.Stream, proto);
            // As the proxy's: [::] must not take 0.0.0.0's port too.
            if (listen.AddressFamily == AddressFamily.InterNetworkV6) s.DualMode = false;
            try { s.Bind(listen); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                s.Dispose();
                throw new PortInUseException(listen, e);
            }
            return new HeldPort(s);
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
