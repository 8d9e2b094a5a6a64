using System.Net;
using System.Net.Sockets;
using Berth.Api;
using Berth.Daemon.Containers;
using Berth.Daemon.Engine;
using Berth.Network;

namespace Berth.Daemon.Network;

// The /networks jobs (engine-api.md §8) and the network parts of container inspect and ps.
public sealed partial class NetworkService
{
    /// <summary>NetworkSettings of container inspect: the primary network's address at the top level, as Docker shows it.</summary>
    public NetworkSettings Settings(Container c)
    {
        var r = c.Record;
        var s = new NetworkSettings
        {
            SandboxKey = c.State.Pid > 0 ? NetnsOf(c.State.Pid) : "",
            SandboxID = c.State.Pid > 0 ? c.Id : "",
            Networks = r.Networks,
        };
        if (PrimaryNetwork(r) is { } n && r.Networks.TryGetValue(n.Name, out var ep) && n.IsDefaultBridge)
        {
            s.IPAddress = ep.IPAddress;
            s.IPPrefixLen = ep.IPPrefixLen;
            s.Gateway = ep.Gateway;
            s.MacAddress = ep.MacAddress;
            s.EndpointID = ep.EndpointID;
            s.GlobalIPv6Address = ep.GlobalIPv6Address;
            s.GlobalIPv6PrefixLen = ep.GlobalIPv6PrefixLen;
            s.IPv6Gateway = ep.IPv6Gateway;
        }
        if (c.IsRunning)
        {
            foreach (var key in r.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>()) s.Ports[Normalise(key)] = null;
            foreach (var (key, bindings) in r.NetworkState.Ports) s.Ports[key] = bindings;
        }
        return s;
    }

    public List<PortSummary> PortSummaries(Container c)
    {
        var list = new List<PortSummary>();
        var r = c.Record;
        foreach (var key in r.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
        {
            var k = Normalise(key);
            if (c.IsRunning && r.NetworkState.Ports.TryGetValue(k, out var b) && b is { Count: > 0 }) continue;
            if (int.TryParse(k.Split('/')[0], out var port)) list.Add(new PortSummary { PrivatePort = port, Type = k.Split('/')[1] });
        }
        if (c.IsRunning)
            foreach (var (key, bindings) in r.NetworkState.Ports)
                foreach (var b in bindings ?? [])
                    list.Add(new PortSummary { IP = b.HostIp, PrivatePort = int.Parse(key.Split('/')[0]), PublicPort = int.Parse(b.HostPort), Type = key.Split('/')[1] });
        return list;
    }

    NetworkResource View(NetworkRecord n, bool withContainers)
    {
        var v = new NetworkResource
        {
            Name = n.Name,
            Id = n.Id,
            Created = Timestamps.Rfc3339Nano(n.Created),
            Driver = n.Driver,
            Internal = n.Internal,
            Attachable = n.Attachable,
            EnableIPv6 = n.EnableIPv6,
            IPAM = new Ipam
            {
                Driver = "default",
                Options = n.IsPredefined ? null : new(),
                Config = n.Subnet.Length == 0 ? [] : n.HasIPv6
                    ? [IpamView(n.Subnet, n.Gateway, n.IPRange), IpamView(n.Subnet6, n.Gateway6, n.IPRange6)]
                    : [IpamView(n.Subnet, n.Gateway, n.IPRange)],
            },
            Options = new(n.Options),
            Labels = new(n.Labels),
        };
        if (withContainers)
            foreach (var c in _containers.All.Where(c => c.IsRunning))
                if (c.Record.Networks.TryGetValue(n.Name, out var ep))
                    v.Containers[c.Id] = new NetworkContainer
                    {
                        Name = c.Name.TrimStart('/'),
                        EndpointID = ep.EndpointID,
                        MacAddress = ep.MacAddress,
                        IPv4Address = ep.IPAddress.Length > 0 ? $"{ep.IPAddress}/{ep.IPPrefixLen}" : "",
                        IPv6Address = ep.GlobalIPv6Address.Length > 0 ? $"{ep.GlobalIPv6Address}/{ep.GlobalIPv6PrefixLen}" : "",
                    };
        return v;
    }

    static IpamConfig IpamView(string subnet, string gateway, string range) =>
        new() { Subnet = subnet, Gateway = gateway, IPRange = range.Length > 0 ? range : null };

    public async Task ListJobAsync(Job job)
    {
        var f = Filters.Parse(job.Env.Get("filters"));
        f.Validate("driver", "id", "label", "name", "scope", "type", "dangling");
        List<NetworkRecord> all;
        lock (_lock) all = _networks.Values.OrderBy(n => n.Created).ToList();
        var rows = all.Where(n =>
                f.Match("driver", v => n.Driver == v)
                && f.Match("id", v => n.Id.StartsWith(v, StringComparison.Ordinal))
                && f.Match("name", v => n.Name.Contains(v, StringComparison.Ordinal))
                && f.Match("scope", v => v == "local")
                && f.Match("type", v => v == (n.IsPredefined ? "builtin" : "custom"))
                && f.Match("label", v => MatchLabel(n.Labels, v))
                && f.Match("dangling", v => (v is "true" or "1") == (!n.IsPredefined && !InUse(n))))
            .Select(n => View(n, false)).ToList();
        await job.Stdout.JsonAsync(200, rows, ApiJson.Default.ListNetworkResource);
    }

    static bool MatchLabel(Dictionary<string, string> labels, string filter)
    {
        var kv = filter.Split('=', 2);
        return labels.TryGetValue(kv[0], out var v) && (kv.Length == 1 || v == kv[1]);
    }

    bool InUse(NetworkRecord n) => _containers.All.Any(c => c.Record.Networks.ContainsKey(n.Name) && c.IsRunning);

    public async Task InspectJobAsync(Job job) =>
        await job.Stdout.JsonAsync(200, View(Find(job.Arg(0)), true), ApiJson.Default.NetworkResource);

    public async Task CreateJobAsync(Job job)
    {
        var req = await JobJson.ReadAsync(job, ApiJson.Default.NetworkCreateRequest) ?? throw ApiException.BadRequest("network create: empty request");
        if (string.IsNullOrWhiteSpace(req.Name)) throw ApiException.BadRequest("network name must not be empty");
        var driver = string.IsNullOrEmpty(req.Driver) ? "bridge" : req.Driver;
        if (req.Name is "bridge" or "host" or "none") throw ApiException.Forbidden($"operation is not permitted on predefined {req.Name} network ");
        if (driver != "bridge") throw ApiException.BadRequest(driver is "host" or "null"
            ? $"only one instance of \"{driver}\" network is allowed" : $"plugin \"{driver}\" not found");
        if (!Enabled) throw ApiException.BadRequest("networking is disabled (--bridge none)");
        bool ipv6 = req.EnableIPv6 == true
            || (req.EnableIPv6 is null && req.Options?.GetValueOrDefault("com.docker.network.enable_ipv6") is "true" or "1");
        if (req.EnableIPv4 == false) throw ApiException.BadRequest("IPv6-only networks (EnableIPv4=false) are not supported");
        if (ipv6 && !Ipv6Kernel) throw ApiException.BadRequest("IPv6 is not available: the host's kernel has IPv6 disabled");
        var (cfg, cfg6) = ValidateIpam(req.IPAM?.Config, ipv6);
        var n = new NetworkRecord
        {
            Id = NewId(),
            Name = req.Name,
            Driver = driver,
            Created = DateTimeOffset.UtcNow,
            Internal = req.Internal,
            Attachable = req.Attachable,
            EnableIPv6 = ipv6,
            Options = req.Options ?? new(),
            Labels = req.Labels ?? new(),
        };
        n.Options.Remove("com.docker.network.enable_ipv6");
        n.BridgeName = n.Options.TryGetValue("com.docker.network.bridge.name", out var bn) && bn.Length > 0 ? bn : "br-" + n.Id[..12];
        n.Icc = !(n.Options.TryGetValue("com.docker.network.bridge.enable_icc", out var icc) && icc is "false" or "0");
        n.Mtu = n.Options.TryGetValue("com.docker.network.driver.mtu", out var mtu) && int.TryParse(mtu, out var m) ? m : _options.Mtu;
        try
        {
            lock (_lock)
            {
                if (_networks.Values.Any(x => x.Name == n.Name)) throw ApiException.Conflict($"network with name {n.Name} already exists");
                var used = _networks.Values.Where(x => x.Subnet.Length > 0).Select(x => x.ParsedSubnet).ToList();
                Subnet subnet;
                if (cfg?.Subnet is { Length: > 0 } s)
                {
                    subnet = Subnet.Parse(s);
                    if (used.Any(u => u.Overlaps(subnet)))
                        throw ApiException.Forbidden($"Pool overlaps with other one on this address space");
                }
                else subnet = NetworkStore.PickSubnet(used.Concat(_driver!.HostRoutes()));
                n.Subnet = subnet.ToString();
                n.Gateway = (cfg?.Gateway is { Length: > 0 } g ? IPAddress.Parse(g) : subnet.At(1)).ToString();
                if (cfg?.IPRange is { Length: > 0 } range) n.IPRange = Subnet.Parse(range).ToString();
                if (ipv6)
                {
                    var others = _networks.Values.Where(x => x.HasIPv6).ToList();
                    Subnet subnet6;
                    if (cfg6?.Subnet is { Length: > 0 } s6)
                    {
                        subnet6 = Subnet.Parse(s6);
                        if (others.Any(x => x.ParsedSubnet6.Overlaps(subnet6)))
                            throw ApiException.Forbidden($"Pool overlaps with other one on this address space");
                    }
                    else subnet6 = PickSubnet6(others);
                    n.Subnet6 = subnet6.ToString();
                    n.Gateway6 = (cfg6?.Gateway is { Length: > 0 } g6 ? IPAddress.Parse(g6) : subnet6.At(1)).ToString();
                    if (cfg6?.IPRange is { Length: > 0 } range6) n.IPRange6 = Subnet.Parse(range6).ToString();
                }
                _store.Add(n);
                _networks[n.Id] = n;
            }
            _driver!.EnsureBridge(n);
            if (ipv6) EnableIpv6Forward();
            ApplyFirewall();
        }
        catch (FormatException e) { throw ApiException.BadRequest(e.Message); }
        catch (Exception) when (_networks.ContainsKey(n.Id))
        {
            RemoveNetwork(n);
            throw;
        }
        _events.Publish("network", "create", n.Id, new() { ["name"] = n.Name, ["type"] = n.Driver });
        await job.Stdout.JsonAsync(201, new NetworkCreateResponse { Id = n.Id }, ApiJson.Default.NetworkCreateResponse);
    }

    static readonly bool Ipv6Kernel = File.Exists("/proc/net/if_inet6");

    /// <summary>
    /// Docker's checks of a create request's IPAM configs (ValidateIPAM's wording, all errors at
    /// once, 400), and the IPv4 and IPv6 config picked out of them. Berth's bridge takes one subnet
    /// of each family; an IPv6 one needs EnableIPv6.
    /// </summary>
    static (IpamConfig? V4, IpamConfig? V6) ValidateIpam(List<IpamConfig>? configs, bool ipv6)
    {
        IpamConfig? v4 = null, v6 = null;
        var errors = new List<string>();
        foreach (var c in configs ?? [])
        {
            if (string.IsNullOrEmpty(c.Subnet))
            {
                if (!string.IsNullOrEmpty(c.Gateway) || !string.IsNullOrEmpty(c.IPRange)) errors.Add($"invalid subnet {c.Subnet}: invalid CIDR block notation");
                continue;
            }
            Subnet subnet;
            try { subnet = Subnet.Parse(c.Subnet); }
            catch (FormatException) { errors.Add($"invalid subnet {c.Subnet}: invalid CIDR block notation"); continue; }
            var family = subnet.IsV6 ? "IPv6" : "IPv4";
            if (subnet.IsV6 && !ipv6)
            {
                errors.Add($"invalid subnet {c.Subnet}: an IPv6 subnet needs IPv6 enabled on the network (--ipv6)");
                continue;
            }
            if (!IPAddress.Parse(c.Subnet[..c.Subnet.IndexOf('/')]).Equals(subnet.Network))
                errors.Add($"invalid subnet {c.Subnet}: it should be {subnet}");
            if (subnet.PrefixLength > (subnet.IsV6 ? 126 : 30))
                errors.Add($"invalid subnet {c.Subnet}: too small for a network (at most /{(subnet.IsV6 ? 126 : 30)})");
            if (!string.IsNullOrEmpty(c.IPRange))
            {
                try
                {
                    var range = Subnet.Parse(c.IPRange);
                    if (range.IsV6 != subnet.IsV6) errors.Add($"invalid ip-range {c.IPRange}: parent subnet is an {family} block");
                    else if (!subnet.Contains(range)) errors.Add($"invalid ip-range {c.IPRange}: parent subnet {subnet} doesn't contain ip-range");
                }
                catch (FormatException) { errors.Add($"invalid ip-range {c.IPRange}: invalid CIDR block notation"); }
            }
            if (!string.IsNullOrEmpty(c.Gateway))
            {
                if (!IPAddress.TryParse(c.Gateway, out var gw)) errors.Add($"invalid gateway {c.Gateway}: invalid address");
                else if ((gw.AddressFamily == AddressFamily.InterNetworkV6) != subnet.IsV6) errors.Add($"invalid gateway {c.Gateway}: parent subnet is an {family} block");
                else if (!subnet.Contains(gw)) errors.Add($"invalid gateway {c.Gateway}: parent subnet {subnet} doesn't contain this address");
            }
            ref var slot = ref subnet.IsV6 ? ref v6 : ref v4;
            if (slot is not null) errors.Add($"invalid subnet {c.Subnet}: a bridge network takes one {family} subnet, and {slot.Subnet} is already given");
            else slot = c;
        }
        if (errors.Count > 0) throw ApiException.BadRequest("invalid network config:\n" + string.Join("\n", errors));
        return (v4, v6);
    }

    void RemoveNetwork(NetworkRecord n)
    {
        lock (_lock) _networks.Remove(n.Id);
        _store.Remove(n.Id);
        try { _driver?.RemoveBridge(n.BridgeName); } catch (Exception e) { LogTeardownFailed(n.Id, e.Message); }
        try { ApplyFirewall(); } catch (Exception e) { LogTeardownFailed(n.Id, e.Message); }
    }

    public async Task RemoveJobAsync(Job job)
    {
        var n = Find(job.Arg(0));
        if (n.IsPredefined) throw ApiException.Forbidden($"{n.Name} is a pre-defined network and cannot be removed");
        var users = _containers.All.Where(c => c.Record.Networks.ContainsKey(n.Name) && c.IsRunning).ToList();
        if (users.Count > 0)
            throw ApiException.Forbidden($"error while removing network: network {n.Name} id {n.Id} has active endpoints (name:{string.Join(", ", users.Select(u => u.Name.TrimStart('/')))})");
        RemoveNetwork(n);
        _events.Publish("network", "destroy", n.Id, new() { ["name"] = n.Name, ["type"] = n.Driver });
        await job.Stdout.EmptyAsync(204);
    }

    public async Task PruneJobAsync(Job job)
    {
        var f = Filters.Parse(job.Env.Get("filters"));
        f.Validate("until", "label", "label!");
        var deleted = new List<string>();
        foreach (var n in Bridges().Where(n => !n.IsPredefined))
        {
            if (_containers.All.Any(c => c.Record.Networks.ContainsKey(n.Name))) continue;
            if (!f.Match("label", v => MatchLabel(n.Labels, v))) continue;
            RemoveNetwork(n);
            _events.Publish("network", "destroy", n.Id, new() { ["name"] = n.Name, ["type"] = n.Driver });
            deleted.Add(n.Name);
        }
        await job.Stdout.JsonAsync(200, new NetworkPruneResponse { NetworksDeleted = deleted }, ApiJson.Default.NetworkPruneResponse);
    }

    public async Task ConnectJobAsync(Job job)
    {
        var n = Find(job.Arg(0));
        var req = await JobJson.ReadAsync(job, ApiJson.Default.NetworkConnectRequest) ?? throw ApiException.BadRequest("empty request");
        var c = _containers.Get(req.Container);
        var r = c.Record;
        if (n.Driver != "bridge") throw ApiException.Forbidden($"container cannot be disconnected from host network or connected to host network");
        if (r.HostConfig.NetworkMode is "host" or "none" || r.HostConfig.NetworkMode.StartsWith("container:", StringComparison.Ordinal))
            throw ApiException.Forbidden("container sharing network namespace with another container or host cannot be connected to any other network");
        if (r.Networks.ContainsKey(n.Name)) throw ApiException.Forbidden($"endpoint with name {c.Name.TrimStart('/')} already exists in network {n.Name}");
        var ep = NewEndpointConfig(n, req.EndpointConfig, "");
        await c.Lock.WaitAsync();
        try
        {
            lock (r) r.Networks[n.Name] = ep;
            if (c.IsRunning && c.State.Pid > 0)
            {
                try
                {
                    AssignAddresses(c, n, ep);
                    var netns = NetnsOf(c.State.Pid);
                    AttachEndpoint(c, netns, n, ep, Berth.Network.Bridge.BridgeDriver.FreeInterfaceName(netns));
                }
                catch (Exception)
                {
                    lock (r) r.Networks.Remove(n.Name);
                    _store.Release(n.Id, c.Id, n.HasIPv6);
                    throw;
                }
            }
            _containers.Save(c);
        }
        finally { c.Lock.Release(); }
        _events.Publish("network", "connect", n.Id, new() { ["container"] = c.Id, ["name"] = n.Name, ["type"] = n.Driver });
        await job.Stdout.EmptyAsync(200);
    }

    public async Task DisconnectJobAsync(Job job)
    {
        var n = Find(job.Arg(0));
        var req = await JobJson.ReadAsync(job, ApiJson.Default.NetworkDisconnectRequest) ?? throw ApiException.BadRequest("empty request");
        var c = _containers.Get(req.Container);
        var r = c.Record;
        if (n.Driver != "bridge") throw ApiException.Forbidden("container cannot be disconnected from host network or connected to host network");
        if (!r.Networks.ContainsKey(n.Name))
            throw ApiException.Forbidden($"container {c.Id} is not connected to network {n.Name}");
        await c.Lock.WaitAsync();
        try
        {
            string? veth;
            lock (r)
            {
                r.Networks.Remove(n.Name);
                r.NetworkState.HostVeths.Remove(n.Id, out veth);
            }
            if (veth is not null) _driver?.Detach(veth);
            _dns?.Detach(c.Id, n.Id);
            _store.Release(n.Id, c.Id, n.HasIPv6);
            _containers.Save(c);
        }
        finally { c.Lock.Release(); }
        _events.Publish("network", "disconnect", n.Id, new() { ["container"] = c.Id, ["name"] = n.Name, ["type"] = n.Driver });
        await job.Stdout.EmptyAsync(200);
    }
}
