using System.Net;
using System.Net.NetworkInformation;
using Berth.Interop;
using Berth.Network.Netlink;

namespace Berth.Network.Bridge;

/// <summary>A container's interface on one bridge network, as created by <see cref="BridgeDriver.Attach"/>.</summary>
public sealed record Endpoint(string HostVeth, string InterfaceName, IPAddress Address, int PrefixLength, PhysicalAddress Mac);

/// <summary>
/// The bridge driver's kernel work, all through rtnetlink: a Linux bridge per network with the
/// gateway address on it, and per container a veth pair whose container end is born inside the
/// container's network namespace, gets Docker's MAC (02:42 + the IPv4 address), the address and,
/// unless the network is internal, a default route through the gateway.
/// </summary>
public sealed class BridgeDriver : IDisposable
{
    readonly Rtnl _host;
    readonly Lock _lock = new();
    /// <summary>
    /// Veth deletions get a socket of their own: the kernel answers a deletion only after RCU
    /// grace periods, and a container starting meanwhile must not queue behind it.
    /// </summary>
    readonly Rtnl _deleter;
    readonly Lock _deleteLock = new();
    readonly string? _hostNetns;

    /// <param name="hostNetnsPath">The namespace bridges live in; null = the daemon's own (tests pass a private one).</param>
    public BridgeDriver(string? hostNetnsPath = null)
    {
        _hostNetns = hostNetnsPath;
        _host = hostNetnsPath is null ? Rtnl.Open() : Rtnl.OpenIn(hostNetnsPath);
        _deleter = hostNetnsPath is null ? Rtnl.Open() : Rtnl.OpenIn(hostNetnsPath);
    }

    public void Dispose()
    {
        _host.Dispose();
        _deleter.Dispose();
    }

    /// <summary>The kernel gives every network namespace's loopback interface index 1.</summary>
    const int LoopbackIndex = 1;

    /// <summary>Creates the network's bridge if missing and makes sure it has its gateway address, MTU and is up.</summary>
    public void EnsureBridge(NetworkRecord n)
    {
        lock (_lock)
        {
            var link = _host.GetLink(n.BridgeName);
            if (link is null)
            {
                _host.CreateBridge(n.BridgeName, n.Mtu);
                link = _host.RequireLink(n.BridgeName);
            }
            else if (link.Kind != "bridge")
                throw new InvalidOperationException($"{n.BridgeName} exists and is not a bridge ({link.Kind ?? "unknown kind"})");
            try { _host.AddAddress(link.Index, n.GatewayAddress, n.ParsedSubnet.PrefixLength); }
            catch (SysException e) when (e.Errno == Errno.EEXIST) { }
            if (!link.Up) _host.SetUp(link.Index);
        }
        // Loopback clients of published ports are DNATed out of this bridge with their 127.x source.
        WriteSysctl($"/proc/sys/net/ipv4/conf/{n.BridgeName}/route_localnet", "1");
    }

    public void RemoveBridge(string name)
    {
        lock (_lock) _host.DeleteLink(name);
    }

    /// <summary>
    /// Plugs the container whose network namespace is <paramref name="netnsPath"/> into the
    /// network as <paramref name="interfaceName"/> (eth0, eth1, …).
    /// </summary>
    public Endpoint Attach(NetworkRecord n, string netnsPath, string interfaceName, IPAddress address)
    {
        var mac = MacFor(address);
        var hostVeth = "veth" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))[..7];
        int prefix = n.ParsedSubnet.PrefixLength;
        int nsFd = LibC.Check(LibC.Open(netnsPath, LibC.O_RDONLY | LibC.O_CLOEXEC), "open", netnsPath);
        try
        {
            lock (_lock)
            {
                var bridge = _host.RequireLink(n.BridgeName);
                _host.CreateVeth(hostVeth, interfaceName, n.Mtu, nsFd, mac, bridge.Index, up: true);
            }
            try
            {
                using var inner = Rtnl.OpenIn(netnsPath);
                inner.SetUp(LoopbackIndex);
                var eth = inner.RequireLink(interfaceName);
                inner.AddAddress(eth.Index, address, prefix);
                inner.SetUp(eth.Index);
                // The first non-internal network gives the default route; a later one finds it taken.
                if (!n.Internal)
                    try { inner.AddRoute(IPAddress.Any, 0, n.GatewayAddress, eth.Index); }
                    catch (SysException e) when (e.Errno == Errno.EEXIST) { }
            }
            catch
            {
                lock (_lock) _host.DeleteLink(hostVeth);
                throw;
            }
        }
        finally { LibC.Close(nsFd); }
        return new Endpoint(hostVeth, interfaceName, address, prefix, mac);
    }

    /// <summary>The lowest ethN not present in the namespace, for an interface added to a running container.</summary>
    public static string FreeInterfaceName(string netnsPath)
    {
        using var inner = Rtnl.OpenIn(netnsPath);
        var names = inner.ListLinks().Select(l => l.Name).ToHashSet();
        int i = 0;
        while (names.Contains("eth" + i)) i++;
        return "eth" + i;
    }

    /// <summary>Removes the host end of a container's veth (the pair goes with it); harmless when already gone.</summary>
    public void Detach(string hostVeth)
    {
        lock (_deleteLock) _deleter.DeleteLink(hostVeth);
    }

    /// <summary>
    /// Deletes veths on <paramref name="bridges"/> that no live endpoint owns: what a crashed daemon
    /// left behind. Returns their names.
    /// </summary>
    public IReadOnlyList<string> RemoveStaleVeths(IEnumerable<string> bridges, IReadOnlySet<string> live)
    {
        var removed = new List<string>();
        lock (_lock)
        {
            var links = _host.ListLinks();
            var masters = links.Where(l => bridges.Contains(l.Name)).Select(l => l.Index).ToHashSet();
            foreach (var l in links)
                if (l.Kind == "veth" && masters.Contains(l.Master) && !live.Contains(l.Name))
                {
                    _host.DeleteLink(l.Name);
                    removed.Add(l.Name);
                }
        }
        return removed;
    }

    /// <summary>Subnets routed on the host, so new networks avoid them.</summary>
    public IReadOnlyList<Subnet> HostRoutes()
    {
        lock (_lock) return _host.ListRoutes().Where(r => r.PrefixLength > 0).Select(r => new Subnet(r.Destination, r.PrefixLength)).ToList();
    }

    public IReadOnlyList<LinkInfo> Links()
    {
        lock (_lock) return _host.ListLinks();
    }

    /// <summary>Docker's MAC for an IPv4 address: 02:42 followed by the four address bytes.</summary>
    public static PhysicalAddress MacFor(IPAddress a)
    {
        var b = a.GetAddressBytes();
        return new PhysicalAddress([0x02, 0x42, b[0], b[1], b[2], b[3]]);
    }

    void WriteSysctl(string path, string value)
    {
        if (_hostNetns is null) File.WriteAllText(path, value);
        else Dns.NetworkNamespace.Run(_hostNetns, () => { File.WriteAllText(path, value); return true; });
    }
}
