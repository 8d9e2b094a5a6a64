using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Berth.Network.Bridge;

/// <summary>What the firewall must know of one bridge network.</summary>
public sealed record BridgeRules(string Bridge, Subnet Subnet, bool Internal, bool Icc);

/// <summary>One published port: traffic to hostIp:hostPort (any local address when null) goes to the container.</summary>
public sealed record PortRule(ProtocolType Protocol, IPAddress? HostIp, int HostPort, IPAddress ContainerIp, int ContainerPort, string Bridge);

/// <summary>
/// Berth's firewall: one nftables table per daemon (so two daemons never touch each other's rules)
/// holding NAT (masquerade, published-port DNAT) and the forward filter (ICC, isolation between
/// networks, --internal). The table is always replaced whole and atomically from the daemon's
/// state: applying after a crash reconciles, and <see cref="Remove"/> leaves nothing behind.
/// nft reads the ruleset on stdin; it is spawned only when the ruleset changes (a network or a
/// published port comes or goes), never for a plain container start.
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
        sb.Append("table ip ").Append(Table).Append(" {\n");

        sb.Append("  chain ports {\n");
        foreach (var p in ports)
        {
            var proto = p.Protocol == ProtocolType.Udp ? "udp" : "tcp";
            sb.Append("    ");
            if (p.HostIp is not null && !p.HostIp.Equals(IPAddress.Any)) sb.Append("ip daddr ").Append(p.HostIp).Append(' ');
            if (loopbackViaProxy) sb.Append($"iifname != \"{p.Bridge}\" ");
            sb.Append($"{proto} dport {p.HostPort} dnat to {p.ContainerIp}:{p.ContainerPort}\n");
        }
        sb.Append("  }\n");
        sb.Append("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n");
        sb.Append("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local ")
            .Append(loopbackViaProxy ? "ip daddr != 127.0.0.0/8 " : "").Append("jump ports\n  }\n");

        sb.Append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var b in bridges)
        {
            // Loopback clients of a published port reach the container through DNAT in output; their
            // 127.x source must be rewritten or the container's reply has nowhere to go.
            sb.Append($"    oifname \"{b.Bridge}\" ip saddr 127.0.0.0/8 masquerade\n");
            if (!b.Internal) sb.Append($"    ip saddr {b.Subnet} oifname != \"{b.Bridge}\" masquerade\n");
            // Hairpin: a container that reached a published port through a host address and was
            // DNATed back into its own bridge must see the reply come from the host, not from the
            // target directly (that reply would be switched past conntrack and refused).
            sb.Append($"    ip saddr {b.Subnet} oifname \"{b.Bridge}\" ct status dnat masquerade\n");
        }
        sb.Append("  }\n");

        sb.Append("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
        foreach (var b in bridges)
        {
            if (b.Internal)
            {
                sb.Append($"    iifname \"{b.Bridge}\" oifname != \"{b.Bridge}\" drop\n");
                sb.Append($"    oifname \"{b.Bridge}\" iifname != \"{b.Bridge}\" drop\n");
            }
            sb.Append($"    iifname \"{b.Bridge}\" oifname \"{b.Bridge}\" {(b.Icc ? "accept" : "drop")}\n");
            sb.Append($"    oifname \"{b.Bridge}\" ct state established,related accept\n");
            sb.Append($"    oifname \"{b.Bridge}\" ct status dnat accept\n");
            // Everything else into a network is refused, which also isolates networks from each other.
            sb.Append($"    oifname \"{b.Bridge}\" drop\n");
            sb.Append($"    iifname \"{b.Bridge}\" accept\n");
        }
        sb.Append("  }\n}\n");
        return sb.ToString();
    }

    /// <summary>Replaces the table with the one for this state, in one nft transaction; a no-op when nothing changed.</summary>
    public void Apply(IReadOnlyCollection<BridgeRules> bridges, IReadOnlyCollection<PortRule> ports, bool loopbackViaProxy = false)
    {
        var text = Render(bridges, ports, loopbackViaProxy);
        lock (_lock)
        {
            if (text == _applied) return;
            // "table" first creates an empty one when missing, so "delete" never fails.
            Run($"table ip {Table}\ndelete table ip {Table}\n{text}");
            _applied = text;
        }
    }

    public void Remove()
    {
        lock (_lock)
        {
            Run($"table ip {Table}\ndelete table ip {Table}\n");
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

    /// <summary>Whether this table exists (for tests and start-up checks).</summary>
    public bool Exists()
    {
        bool Check()
        {
            var psi = new ProcessStartInfo("nft", ["list", "table", "ip", Table]) { RedirectStandardError = true, RedirectStandardOutput = true };
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
