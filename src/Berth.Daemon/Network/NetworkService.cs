using System.Net;
using System.Net.Sockets;
using Berth.Api;
using Berth.Daemon.Containers;
using Berth.Daemon.Engine;
using Berth.Network;
using Berth.Network.Bridge;
using Berth.Network.Dns;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon.Network;

/// <summary>
/// The networkdriver as the daemon uses it: the predefined networks (bridge on berth0, host,
/// none) and user-defined bridges, each container's endpoints (IPAM address, veth, DNS), published
/// ports (nftables DNAT plus the userland proxy for loopback clients) and the firewall table, which
/// is always rebuilt from this state: after a crash, <see cref="Reconcile"/> makes it true again.
/// Container hooks are in NetworkService.Endpoints.cs, the /networks jobs in NetworkService.Jobs.cs.
/// </summary>
public sealed partial class NetworkService : IDnsNames, IAsyncDisposable
{
    readonly DaemonOptions _options;
    readonly NetworkStore _store;
    readonly ContainerStore _containers;
    readonly EventBus _events;
    readonly ILogger _log;
    readonly Lock _lock = new();
    readonly Dictionary<string, NetworkRecord> _networks = new();
    /// <summary>Per running container: what holds its published ports (proxies or held sockets).</summary>
    readonly Dictionary<string, List<IAsyncDisposable>> _portHolders = new();
    /// <summary>The chain of veth deletions that container exits left to do (see DetachLater).</summary>
    Task _detaching = Task.CompletedTask;
    BridgeDriver? _driver;
    NftFirewall? _firewall;
    EmbeddedDns? _dns;

    public NetworkService(DaemonOptions options, Graph.MetadataDb db, ContainerStore containers, EventBus events, ILogger<NetworkService> log)
    {
        _options = options;
        _store = new NetworkStore(db);
        _containers = containers;
        _events = events;
        _log = log;
    }

    /// <summary>False with --bridge none: containers get a network namespace with loopback only.</summary>
    public bool Enabled => _options.Bridge != "none";

    /// <summary>Loads the networks, makes the predefined ones and every bridge exist; before containers are restored.</summary>
    public void Initialize()
    {
        foreach (var n in _store.All()) _networks[n.Id] = n;
        EnsurePredefined("host", "host");
        EnsurePredefined("none", "null");
        if (!Enabled) return;
        _driver = new BridgeDriver();
        if (_options.Iptables) _firewall = new NftFirewall(FirewallTable(_options.DataRoot));
        _dns = new EmbeddedDns(this, EmbeddedDns.HostUpstreams(), _log);
        EnsureDefaultBridge();
        foreach (var n in Bridges()) _driver.EnsureBridge(n);
        if (_options.IpForward) EnableIpForward();
        EnableIpv6Forward();
    }

    /// <summary>berth for the default data root, berth-HASH for others, so daemons never share a table.</summary>
    public static string FirewallTable(string dataRoot) => dataRoot == "/var/lib/berth" ? "berth"
        : "berth-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(dataRoot)))[..10];

    void EnsurePredefined(string name, string driver)
    {
        if (ByName(name) is not null) return;
        var n = new NetworkRecord { Id = NewId(), Name = name, Driver = driver, Created = DateTimeOffset.UtcNow };
        _store.Add(n);
        lock (_lock) _networks[n.Id] = n;
    }

    /// <summary>The predefined bridge network from --bridge/--bip/--fixed-cidr/--mtu/--icc/--ipv6/--fixed-cidr-v6; re-made when those change.</summary>
    void EnsureDefaultBridge()
    {
        var bridgeName = _options.Bridge.Length > 0 ? _options.Bridge : "berth0";
        var existing = ByName("bridge");
        IPAddress gateway;
        Subnet subnet;
        if (_options.Bip is { Length: > 0 } bip)
            (gateway, subnet) = Subnet.ParseHost(bip);
        else if (existing is not null && existing.BridgeName == bridgeName)
            (gateway, subnet) = (existing.GatewayAddress, existing.ParsedSubnet);
        else
        {
            var others = Bridges().Where(n => n.Name != "bridge").Select(n => n.ParsedSubnet);
            subnet = NetworkStore.PickSubnet(others.Concat(_driver!.HostRoutes()), [Subnet.Parse("172.31.0.0/16")]);
            gateway = subnet.At(1);
        }
        Subnet? subnet6 = null;
        if (_options.Ipv6)
            subnet6 = _options.FixedCidrV6 is { Length: > 0 } fixed6 ? Subnet.Parse(fixed6)
                : existing is { HasIPv6: true } && existing.BridgeName == bridgeName ? existing.ParsedSubnet6
                : PickSubnet6(Bridges().Where(n => n.Name != "bridge"));
        var subnet6Text = subnet6?.ToString() ?? "";
        var gateway6Text = subnet6?.At(1).ToString() ?? "";
        if (existing is not null && existing.BridgeName == bridgeName && existing.Subnet == subnet.ToString() && existing.Gateway == gateway.ToString()
            && existing.IPRange == (_options.FixedCidr ?? "") && existing.Mtu == _options.Mtu && existing.Icc == _options.Icc
            && existing.EnableIPv6 == _options.Ipv6 && existing.Subnet6 == subnet6Text && existing.Gateway6 == gateway6Text)
            return;
        var n = existing ?? new NetworkRecord { Id = NewId(), Name = "bridge", Created = DateTimeOffset.UtcNow };
        if (existing is not null)
        {
            // A bridge keeps addresses it no longer should (an old gateway), so a changed one is made anew.
            if (existing.BridgeName != bridgeName || existing.Subnet != subnet.ToString() || existing.Subnet6 != subnet6Text)
                _driver!.RemoveBridge(existing.BridgeName);
            _store.Remove(existing.Id);
        }
        n.BridgeName = bridgeName;
        n.Subnet = subnet.ToString();
        n.Gateway = gateway.ToString();
        n.IPRange = _options.FixedCidr ?? "";
        n.EnableIPv6 = _options.Ipv6;
        n.Subnet6 = subnet6Text;
        n.Gateway6 = gateway6Text;
        n.Mtu = _options.Mtu;
        n.Icc = _options.Icc;
        n.Options = new()
        {
            ["com.docker.network.bridge.default_bridge"] = "true",
            ["com.docker.network.bridge.enable_icc"] = n.Icc ? "true" : "false",
            ["com.docker.network.bridge.enable_ip_masquerade"] = "true",
            ["com.docker.network.bridge.host_binding_ipv4"] = "0.0.0.0",
            ["com.docker.network.bridge.name"] = bridgeName,
            ["com.docker.network.driver.mtu"] = n.Mtu.ToString(),
        };
        _store.Add(n);
        lock (_lock) _networks[n.Id] = n;
    }

    /// <summary>A free /64 of this daemon's ULA pool: overlapping no other network and no IPv6 route of the host.</summary>
    Subnet PickSubnet6(IEnumerable<NetworkRecord> others)
    {
        var used = others.Where(n => n.HasIPv6).Select(n => n.ParsedSubnet6).Concat(_driver!.HostRoutes(ipv6: true));
        try { return NetworkStore.PickSubnet6(NetworkStore.Ipv6Pool(_options.DataRoot), used); }
        catch (IpamException e) { throw ApiException.Forbidden(e.Message); }
    }

    /// <summary>Forwarding must be on for containers to reach beyond their bridge; turned on only when off, and recorded.</summary>
    void EnableIpForward() => EnableForwarding("/proc/sys/net/ipv4/ip_forward", "ip_forward-enabled");

    /// <summary>
    /// IPv6 forwarding, as dockerd turns it on for IPv6 networks: only once a network with IPv6
    /// exists (with --ip-forward), so a daemon without one never changes the host's IPv6 routing.
    /// </summary>
    void EnableIpv6Forward()
    {
        if (_options.IpForward && Bridges().Any(b => b.HasIPv6))
            EnableForwarding("/proc/sys/net/ipv6/conf/all/forwarding", "ipv6_forwarding-enabled");
    }

    void EnableForwarding(string path, string marker)
    {
        if (File.ReadAllText(path).Trim() == "1") return;
        File.WriteAllText(path, "1");
        Directory.CreateDirectory(Path.Combine(_options.ExecRoot, "network"));
        File.WriteAllText(Path.Combine(_options.ExecRoot, "network", marker), DateTimeOffset.UtcNow.ToString("O") + "\n");
        LogIpForward(path);
    }

    /// <summary>
    /// After the containers were restored: re-takes the published ports of running ones, releases
    /// addresses of stopped ones, deletes veths nobody owns, and rewrites the firewall table.
    /// </summary>
    public void Reconcile()
    {
        var running = _containers.All.Where(c => c.IsRunning).ToList();
        var runningIds = running.Select(c => c.Id).ToHashSet();
        foreach (var (networkId, containerId, address) in _store.Allocations())
            if (!runningIds.Contains(containerId)) _store.Release(networkId, containerId, address.AddressFamily == AddressFamily.InterNetworkV6);
        if (!Enabled) return;
        foreach (var c in running)
        {
            try { HoldPorts(c); }
            catch (Exception e) { LogReconcileFailed(c.Id, e.Message); }
            if (c.State.Pid > 0) AttachDns(c);
        }
        var live = running.SelectMany(c => c.Record.NetworkState.HostVeths.Values).ToHashSet();
        foreach (var veth in _driver!.RemoveStaleVeths(Bridges().Select(b => b.BridgeName).ToList(), live)) LogStaleVeth(veth);
        ApplyFirewall();
    }

    /// <summary>Clean shutdown: the firewall table goes; bridges too when no container is left on them.</summary>
    public async ValueTask DisposeAsync()
    {
        List<IAsyncDisposable> holders;
        lock (_lock) { holders = _portHolders.Values.SelectMany(h => h).ToList(); _portHolders.Clear(); }
        foreach (var h in holders) await h.DisposeAsync();
        if (_dns is not null) await _dns.DisposeAsync();
        Task detaching;
        lock (_lock) detaching = _detaching;
        await detaching;
        if (!Enabled) return;
        try { _firewall?.Remove(); } catch (Exception e) { LogFirewallFailed(e.Message); }
        if (!_containers.All.Any(c => c.IsRunning))
            foreach (var b in Bridges())
                try { _driver!.RemoveBridge(b.BridgeName); } catch (Exception e) { LogFirewallFailed(e.Message); }
        _driver?.Dispose();
    }

    // ---- lookups ----

    List<NetworkRecord> Bridges()
    {
        lock (_lock) return _networks.Values.Where(n => n.Driver == "bridge").ToList();
    }

    NetworkRecord? ByName(string name)
    {
        lock (_lock) return _networks.Values.FirstOrDefault(n => n.Name == name);
    }

    /// <summary>A network by full id, name, or unique id prefix (Docker's order); 404 otherwise.</summary>
    public NetworkRecord Find(string idOrName)
    {
        lock (_lock)
        {
            if (_networks.TryGetValue(idOrName, out var byId)) return byId;
            if (_networks.Values.FirstOrDefault(n => n.Name == idOrName) is { } byName) return byName;
            var matches = idOrName.Length == 0 ? [] : _networks.Values.Where(n => n.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList();
            if (matches.Count == 1) return matches[0];
            if (matches.Count > 1) throw ApiException.BadRequest($"network {idOrName} is ambiguous ({matches.Count} matches found based on ID prefix)");
        }
        throw ApiException.NotFound($"network {idOrName} not found");
    }

    static string NewId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    static string NetnsOf(int pid) => $"/proc/{pid}/ns/net";

    // ---- DNS names ----

    public IReadOnlyList<IPAddress>? Lookup(string networkId, string name) => Lookup(networkId, name, "");

    /// <summary>
    /// A container's addresses (IPv4, then IPv6 where the network has it) by name, short id or
    /// alias; for <paramref name="askerId"/> its links' aliases too (--link db:alias on a user
    /// network: Docker resolves the alias for the linking container only).
    /// </summary>
    public IReadOnlyList<IPAddress>? Lookup(string networkId, string name, string askerId)
    {
        NetworkRecord? n;
        lock (_lock) _networks.TryGetValue(networkId, out n);
        if (n is null) return null;
        if (askerId.Length > 0 && _containers.Find(askerId)?.Record.HostConfig.Links is { Count: > 0 } links)
            foreach (var link in links)
                if (SplitLink(link) is var (target, alias) && string.Equals(alias, name, StringComparison.OrdinalIgnoreCase))
                {
                    name = target;
                    break;
                }
        var result = new List<IPAddress>();
        foreach (var c in _containers.All)
        {
            if (!c.IsRunning || !c.Record.Networks.TryGetValue(n.Name, out var ep) || ep.IPAddress.Length == 0) continue;
            if (string.Equals(c.Name.TrimStart('/'), name, StringComparison.OrdinalIgnoreCase) || c.ShortId == name
                || (ep.Aliases?.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase)) ?? false))
            {
                result.Add(IPAddress.Parse(ep.IPAddress));
                if (ep.GlobalIPv6Address.Length > 0) result.Add(IPAddress.Parse(ep.GlobalIPv6Address));
            }
        }
        return result.Count > 0 ? result : null;
    }

    public string? ReverseLookup(string networkId, IPAddress address)
    {
        NetworkRecord? n;
        lock (_lock) _networks.TryGetValue(networkId, out n);
        if (n is null) return null;
        var text = address.ToString();
        var field = address.AddressFamily == AddressFamily.InterNetworkV6 ? (Func<EndpointSettings, string>)(ep => ep.GlobalIPv6Address) : ep => ep.IPAddress;
        return _containers.All.FirstOrDefault(c => c.IsRunning && c.Record.Networks.TryGetValue(n.Name, out var ep) && field(ep) == text)
            is { } hit ? hit.Name.TrimStart('/') + "." + n.Name : null;
    }

    /// <summary>Containers on user-defined networks get the embedded DNS server on every such network.</summary>
    void AttachDns(Container c)
    {
        if (_dns is null) return;
        foreach (var name in c.Record.Networks.Keys)
            if (ByName(name) is { IsDefaultBridge: false, Driver: "bridge" } n)
                try { _dns.Attach(c.Id, NetnsOf(c.State.Pid > 0 ? c.State.Pid : 0), n.Id, DnsUpstreams(c.Record, n)); }
                catch (Exception e) { LogReconcileFailed(c.Id, "dns: " + e.Message); }
    }

    /// <summary>--dns servers become the DNS server's upstreams for that container; an internal network forwards nothing.</summary>
    static IReadOnlyList<IPEndPoint>? DnsUpstreams(ContainerRecord r, NetworkRecord n)
    {
        if (n.Internal) return [];
        if (r.HostConfig.Dns is not { Count: > 0 } dns) return null;
        return dns.Select(d => IPAddress.TryParse(d, out var a) ? new IPEndPoint(a, 53) : null).OfType<IPEndPoint>().ToList();
    }

    // ---- firewall ----

    void ApplyFirewall()
    {
        if (_firewall is null) return;
        var bridges = Bridges().Select(b => new BridgeRules(b.BridgeName, b.ParsedSubnet, b.Internal, b.Icc, b.HasIPv6 ? b.ParsedSubnet6 : null,
            b.Icc ? null : LinkHoles(b))).ToList();
        // A starting container is attached (its veths exist) before it counts as running.
        var ports = _containers.All.Where(c => c.IsRunning || AttachedTo(c, null)).SelectMany(c => PortRules(c.Record)).ToList();
        try { _firewall.Apply(bridges, ports, loopbackViaProxy: _options.UserlandProxy); }
        catch (FirewallException e) { LogFirewallFailed(e.Message); throw new ApiException(500, "programming the firewall: " + e.Message); }
    }

    /// <summary>
    /// On a network with ICC off, what links open, as Docker's legacy links do: the linking
    /// container may reach each exposed port of the container it links to (both on this network).
    /// </summary>
    List<LinkHole> LinkHoles(NetworkRecord n)
    {
        var holes = new List<LinkHole>();
        foreach (var c in _containers.All)
        {
            // Attached (veth on this network), not running: a starting container is attached first.
            if (c.Record.HostConfig.Links is not { Count: > 0 } links || !AttachedTo(c, n.Id)
                || !c.Record.Networks.TryGetValue(n.Name, out var from)) continue;
            foreach (var link in links)
            {
                if (_containers.Find(SplitLink(link).Name) is not { } t || !AttachedTo(t, n.Id)
                    || !t.Record.Networks.TryGetValue(n.Name, out var to)) continue;
                foreach (var key in t.Record.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
                {
                    var (port, proto) = ParsePortKey(Normalise(key));
                    if (from.IPAddress.Length > 0 && to.IPAddress.Length > 0)
                        holes.Add(new LinkHole(IPAddress.Parse(from.IPAddress), IPAddress.Parse(to.IPAddress), proto, port));
                    if (from.GlobalIPv6Address.Length > 0 && to.GlobalIPv6Address.Length > 0)
                        holes.Add(new LinkHole(IPAddress.Parse(from.GlobalIPv6Address), IPAddress.Parse(to.GlobalIPv6Address), proto, port));
                }
            }
        }
        return holes;
    }

    /// <summary>Whether the container has its veth on the network (any network when null); veths are recorded under the record's lock.</summary>
    static bool AttachedTo(Container c, string? networkId)
    {
        lock (c.Record) return networkId is null ? c.Record.NetworkState.HostVeths.Count > 0 : c.Record.NetworkState.HostVeths.ContainsKey(networkId);
    }

    IEnumerable<PortRule> PortRules(ContainerRecord r)
    {
        var n = PrimaryNetwork(r);
        if (n is null || !r.Networks.TryGetValue(n.Name, out var ep) || ep.IPAddress.Length == 0) yield break;
        var ip = IPAddress.Parse(ep.IPAddress);
        var ip6 = ep.GlobalIPv6Address.Length > 0 ? IPAddress.Parse(ep.GlobalIPv6Address) : null;
        foreach (var (key, bindings) in r.NetworkState.Ports)
        {
            if (bindings is null) continue;
            var (cport, proto) = ParsePortKey(key);
            foreach (var b in bindings)
            {
                var hostIp = string.IsNullOrEmpty(b.HostIp) ? null : IPAddress.Parse(b.HostIp);
                // NAT cannot turn IPv6 into IPv4: such a binding is served by the proxy alone.
                var to = hostIp?.AddressFamily == AddressFamily.InterNetworkV6 ? ip6 : ip;
                if (to is not null) yield return new PortRule(proto, hostIp, int.Parse(b.HostPort), to, cport, n.BridgeName);
            }
        }
    }

    /// <summary>The network published ports go through: the one named by the container's NetworkMode.</summary>
    NetworkRecord? PrimaryNetwork(ContainerRecord r)
    {
        try { return Find(ModeNetwork(r.HostConfig.NetworkMode)) is { Driver: "bridge" } n ? n : null; }
        catch (ApiException) { return null; }
    }

    static string ModeNetwork(string mode) => mode is "default" or "" ? "bridge" : mode;

    internal static (int Port, ProtocolType Proto) ParsePortKey(string key)
    {
        var parts = key.Split('/', 2);
        var proto = parts.Length == 2 ? parts[1].ToLowerInvariant() : "tcp";
        if (!int.TryParse(parts[0], out var port) || port is < 1 or > 65535) throw ApiException.BadRequest($"invalid port specification: \"{key}\"");
        return (port, proto switch
        {
            "tcp" => ProtocolType.Tcp,
            "udp" => ProtocolType.Udp,
            _ => throw ApiException.BadRequest($"invalid proto: {proto}"),
        });
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "removed stale veth {Veth} left by an earlier daemon")]
    partial void LogStaleVeth(string veth);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "restoring the network of container {Id} failed: {Error}")]
    partial void LogReconcileFailed(string id, string error);

    [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "firewall: {Error}")]
    partial void LogFirewallFailed(string error);

    [LoggerMessage(EventId = 603, Level = LogLevel.Information, Message = "{Sysctl} was 0; set to 1 for container networking")]
    partial void LogIpForward(string sysctl);

    [LoggerMessage(EventId = 604, Level = LogLevel.Warning, Message = "network teardown of container {Id}: {Error}")]
    partial void LogTeardownFailed(string id, string error);

    [LoggerMessage(EventId = 605, Level = LogLevel.Warning, Message = "container {Id}: published port not taken on [::]: {Error}")]
    partial void LogIpv6PortSkipped(string id, string error);
}
