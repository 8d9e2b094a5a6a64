using System.Net;
using System.Net.NetworkInformation;
using Berth.Interop;
using Berth.Network.Netlink;

namespace Berth.Network.Bridge;

/// <summary>A container's interface on one bridge network, as created by <see cref="BridgeDriver.Attach"/>.</summary>
public sealed record Endpoint(string HostVeth, string InterfaceName, IPAddress Address, int PrefixLength, PhysicalAddress Mac, IPAddress? Address6 = null);

/// <summary>
/// The bridge driver's kernel work, all through rtnetlink: a Linux bridge per network with the
/// gateway address on it, and per container a veth pair whose container end is born inside the
/// container's network namespace, gets Docker's MAC (02:42 + the IPv4 address), the address and,
/// unless the network is internal, a default route through the gateway. On a network with IPv6 the
/// bridge and the container also get their IPv6 address (without DAD) and the container an IPv6
/// default route; a network without IPv6 costs no IPv6 work at all.
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
            if (n.HasIPv6)
            {
                // A host booted with IPv6 off by default leaves it off on new links.
                WriteSysctl($"/proc/sys/net/ipv6/conf/{n.BridgeName}/disable_ipv6", "0");
                try { _host.AddAddress(link.Index, n.GatewayAddress6, n.ParsedSubnet6.PrefixLength); }
                catch (SysException e) when (e.Errno == Errno.EEXIST) { }
            }
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
    public Endpoint Attach(NetworkRecord n, string netnsPath, string interfaceName, IPAddress address, IPAddress? address6 = null)
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
                if (address6 is not null) AddIpv6(inner, netnsPath, n, eth.Index, interfaceName, address6);
            }
            catch
            {
                lock (_lock) _host.DeleteLink(hostVeth);
                throw;
            }
        }
        finally { LibC.Close(nsFd); }
        return new Endpoint(hostVeth, interfaceName, address, prefix, mac, address6);
    }

    static void AddIpv6(Rtnl inner, string netnsPath, NetworkRecord n, int index, string interfaceName, IPAddress address6)
    {
        int prefix6 = n.ParsedSubnet6.PrefixLength;
        try { inner.AddAddress(index, address6, prefix6); }
        catch (SysException e) when (e.Errno == Errno.EACCES)
        {
            // The namespace was born with IPv6 disabled (the host's default): turn it on for this
            // container only, then try again. Never paid for where IPv6 is on, the usual case.
            Dns.NetworkNamespace.Run(netnsPath, () =>
            {
                foreach (var conf in new[] { "all", "default", interfaceName })
                    File.WriteAllText($"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "0");
                return true;
            });
            inner.AddAddress(index, address6, prefix6);
        }
        if (!n.Internal)
            try { inner.AddRoute(IPAddress.IPv6Any, 0, n.GatewayAddress6, index); }
            catch (SysException e) when (e.Errno == Errno.EEXIST) { }
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

    /// <summary>Subnets routed on the host (IPv4, or IPv6 with <paramref name="ipv6"/>), so new networks avoid them.</summary>
    public IReadOnlyList<Subnet> HostRoutes(bool ipv6 = false)
    {
        lock (_lock) return _host.ListRoutes(ipv6).Where(r => r.PrefixLength > 0).Select(r => new Subnet(r.Destination, r.PrefixLength)).ToList();
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
