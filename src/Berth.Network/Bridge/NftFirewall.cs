using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Berth.Network.Bridge;

/// <summary>
/// What the firewall must know of one bridge network: <paramref name="Subnet6"/> when it has IPv6,
/// and with ICC off the <paramref name="Holes"/> that links open.
/// </summary>
public sealed record BridgeRules(string Bridge, Subnet Subnet, bool Internal, bool Icc, Subnet? Subnet6 = null, IReadOnlyList<LinkHole>? Holes = null);

/// <summary>A link's way through ICC off: <paramref name="From"/> may reach <paramref name="To"/>'s port, and the replies come back.</summary>
public sealed record LinkHole(IPAddress From, IPAddress To, ProtocolType Protocol, int Port);

/// <summary>
/// One published port: traffic to hostIp:hostPort (any local address of the container address's
/// family when null) goes to the container. An IPv6 container address makes it an ip6 table rule.
/// </summary>
public sealed record PortRule(ProtocolType Protocol, IPAddress? HostIp, int HostPort, IPAddress ContainerIp, int ContainerPort, string Bridge);

/// <summary>
/// Berth's firewall: one nftables table per daemon (so two daemons never touch each other's rules)
/// holding NAT (masquerade, published-port DNAT) and the forward filter (ICC, isolation between
/// networks, --internal). The table is always replaced whole and atomically from the daemon's
/// state: applying after a crash reconciles, and <see cref="Remove"/> leaves nothing behind.
/// nft reads the ruleset on stdin; it is spawned only when the ruleset changes (a network or a
/// published port comes or goes), never for a plain container start. Networks with IPv6 get the
/// same rules again in an ip6 table of the same name, which exists only while one of them does.
/// </summary>
public sealed class NftFirewall(string table, string? netnsPath = null)
{
    readonly Lock _lock = new();
    string? _applied;

    public string Table { get; } = table;

    /// <summary>The table's text for the given state.</summary>
    /// <param name="loopbackViaProxy">
    /// When a userland proxy serves the published ports, locally generated traffic to loopback is
    /// left to it, and so is a container's traffic to a host address (hairpin: DNAT skips packets
    /// from the port's own bridge, which reach the proxy instead), as Docker does. Without a proxy
    /// both are DNATed too: loopback with route_localnet on the bridge, hairpin with the
    /// masquerade below.
    /// </param>
    public string Render(IReadOnlyCollection<BridgeRules> bridges, IReadOnlyCollection<PortRule> ports, bool loopbackViaProxy = false)
    {
        var sb = new StringBuilder();
        RenderFamily(sb, false, bridges.Select(b => (b, b.Subnet)), ports.Where(p => !p.ContainerIp.IsV6()), loopbackViaProxy);
        var v6 = bridges.Where(b => b.Subnet6 is not null).Select(b => (b, b.Subnet6!.Value)).ToList();
        if (v6.Count > 0) RenderFamily(sb, true, v6, ports.Where(p => p.ContainerIp.IsV6()), loopbackViaProxy);
        return sb.ToString();
    }

    /// <summary>
    /// One table: "ip" with each bridge's IPv4 subnet, or "ip6" with the IPv6 subnets of the
    /// bridges that have one. IPv6 has no route_localnet: a ::1 source can never leave lo, so
    /// loopback clients are always the proxy's, whatever <paramref name="loopbackViaProxy"/> says.
    /// </summary>
    void RenderFamily(StringBuilder sb, bool v6, IEnumerable<(BridgeRules Rules, Subnet Subnet)> bridges, IEnumerable<PortRule> ports, bool loopbackViaProxy)
    {
        string ip = v6 ? "ip6" : "ip", loopback = v6 ? "::1" : "127.0.0.0/8";
        sb.Append("table ").Append(ip).Append(' ').Append(Table).Append(" {\n");

        sb.Append("  chain ports {\n");
        foreach (var p in ports)
        {
            var proto = p.Protocol == ProtocolType.Udp ? "udp" : "tcp";
            sb.Append("    ");
            if (p.HostIp is not null && !p.HostIp.Equals(IPAddress.Any) && !p.HostIp.Equals(IPAddress.IPv6Any)) sb.Append(ip).Append(" daddr ").Append(p.HostIp).Append(' ');
            if (loopbackViaProxy) sb.Append($"iifname != \"{p.Bridge}\" ");
            sb.Append($"{proto} dport {p.HostPort} dnat to {(v6 ? $"[{p.ContainerIp}]" : p.ContainerIp.ToString())}:{p.ContainerPort}\n");
        }
        sb.Append("  }\n");
        sb.Append("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n");
        sb.Append("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local ")
            .Append(loopbackViaProxy || v6 ? $"{ip} daddr != {loopback} " : "").Append("jump ports\n  }\n");

        sb.Append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var (b, subnet) in bridges)
        {
            // Loopback clients of a published port reach the container through DNAT in output; their
            // 127.x source must be rewritten or the container's reply has nowhere to go.
            if (!v6) sb.Append($"    oifname \"{b.Bridge}\" ip saddr 127.0.0.0/8 masquerade\n");
            if (!b.Internal) sb.Append($"    {ip} saddr {subnet} oifname != \"{b.Bridge}\" masquerade\n");
            // Hairpin: a container that reached a published port through a host address and was
            // DNATed back into its own bridge must see the reply come from the host, not from the
            // target directly (that reply would be switched past conntrack and refused).
            sb.Append($"    {ip} saddr {subnet} oifname \"{b.Bridge}\" ct status dnat masquerade\n");
        }
        sb.Append("  }\n");

        sb.Append("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
        foreach (var (b, _) in bridges)
        {
            if (b.Internal)
            {
                sb.Append($"    iifname \"{b.Bridge}\" oifname != \"{b.Bridge}\" drop\n");
                sb.Append($"    oifname \"{b.Bridge}\" iifname != \"{b.Bridge}\" drop\n");
            }
            foreach (var h in (b.Holes ?? []).Where(h => h.From.IsV6() == v6))
            {
                var proto = h.Protocol == ProtocolType.Udp ? "udp" : "tcp";
                sb.Append($"    iifname \"{b.Bridge}\" oifname \"{b.Bridge}\" {ip} saddr {h.From} {ip} daddr {h.To} {proto} dport {h.Port} accept\n");
                sb.Append($"    iifname \"{b.Bridge}\" oifname \"{b.Bridge}\" {ip} saddr {h.To} {ip} daddr {h.From} {proto} sport {h.Port} accept\n");
            }
            sb.Append($"    iifname \"{b.Bridge}\" oifname \"{b.Bridge}\" {(b.Icc ? "accept" : "drop")}\n");
            sb.Append($"    oifname \"{b.Bridge}\" ct state established,related accept\n");
            sb.Append($"    oifname \"{b.Bridge}\" ct status dnat accept\n");
            // Everything else into a network is refused, which also isolates networks from each other.
            sb.Append($"    oifname \"{b.Bridge}\" drop\n");
        }
        // Outbound last: an accept ends the chain, so one network's "out" must not come before another's
        // "nothing in" (traffic from the first bridge into the second would be accepted before it is refused).
        foreach (var (b, _) in bridges) sb.Append($"    iifname \"{b.Bridge}\" accept\n");
        sb.Append("  }\n}\n");
    }

    /// <summary>Whether the kernel has IPv6 at all; without it there is no ip6 table to make or remove.</summary>
    static readonly bool KernelHasIpv6 = File.Exists("/proc/net/if_inet6");

    /// <summary>Deletes the table(s) whatever they hold; "table" first creates an empty one when missing, so "delete" never fails.</summary>
    string Reset() => $"table ip {Table}\ndelete table ip {Table}\n" + (KernelHasIpv6 ? $"table ip6 {Table}\ndelete table ip6 {Table}\n" : "");

    /// <summary>Replaces the table with the one for this state, in one nft transaction; a no-op when nothing changed.</summary>
    public void Apply(IReadOnlyCollection<BridgeRules> bridges, IReadOnlyCollection<PortRule> ports, bool loopbackViaProxy = false)
    {
        var text = Render(bridges, ports, loopbackViaProxy);
        lock (_lock)
        {
            if (text == _applied) return;
            Run(Reset() + text);
            _applied = text;
        }
    }

    public void Remove()
    {
        lock (_lock)
        {
            Run(Reset());
            _applied = null;
        }
    }

    void Run(string script)
    {
        if (netnsPath is null) Nft(script);
        else Dns.NetworkNamespace.Run(netnsPath, () => { Nft(script); return true; });
    }

    /// <summary>Runs nft on a script; the calling thread's network namespace is nft's.</summary>
    static void Nft(string script)
    {
        var psi = new ProcessStartInfo("nft", ["-f", "-"]) { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start nft");
        p.StandardInput.Write(script);
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new FirewallException($"nft failed ({p.ExitCode}): {err.Result.Trim()}");
    }

    /// <summary>Whether this table exists (for tests and start-up checks); <paramref name="ipv6"/> asks about the ip6 one.</summary>
    public bool Exists(bool ipv6 = false)
    {
        bool Check()
        {
            var psi = new ProcessStartInfo("nft", ["list", "table", ipv6 ? "ip6" : "ip", Table]) { RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        return netnsPath is null ? Check() : Dns.NetworkNamespace.Run(netnsPath, Check);
    }
}

public sealed class FirewallException(string message) : Exception(message);

file static class AddressFamilyExtensions
{
    public static bool IsV6(this IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6;
}
