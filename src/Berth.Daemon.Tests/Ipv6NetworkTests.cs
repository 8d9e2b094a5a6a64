using System.Net;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// IPv6 end to end with the real docker CLI against a berthd whose default bridge has IPv6
/// (--ipv6 --fixed-cidr-v6): user networks with --ipv6, containers reaching each other by name
/// over IPv6 through the embedded DNS, --ip6, the inspect fields, Docker's errors for bad input,
/// and that nothing (bridge, veth, ip6 rules) is left behind.
/// </summary>
public sealed class Ipv6NetworkTests(Ipv6DaemonFixture d) : IClassFixture<Ipv6DaemonFixture>
{
    const string HttpdCmd = "mkdir -p /www && echo hello-over-ipv6 > /www/index.html && exec httpd -f -p 80 -h /www";

    static string[] Links() => Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName).ToArray()!;

    /// <summary>The ip6 table of this fixture's daemon, found by a bridge name only its rules mention; null when there is none.</summary>
    static async Task<string?> Ip6TableNaming(string bridge)
    {
        var (_, tables, _) = await Tools.RunAsync("nft", ["list", "tables", "ip6"]);
        foreach (var t in tables.Split('\n').Select(t => t.Trim()).Where(t => t.StartsWith("table ip6 berth", StringComparison.Ordinal)))
        {
            var (_, rules, _) = await Tools.RunAsync("nft", ["list", .. t.Split(' ')]);
            if (rules.Contains($"\"{bridge}\"")) return rules;
        }
        return null;
    }

    string Inspect(string field, string network) => $"{{{{(index .NetworkSettings.Networks \"{network}\").{field}}}}}";

    [Fact]
    public async Task Containers_on_an_ipv6_network_reach_each_other_by_name_over_ipv6()
    {
        d.RequireIpv6();
        var net = "v6" + Guid.NewGuid().ToString("N")[..8];
        var prefix = Ipv6DaemonFixture.RandomUla64();
        var netId = await Tools.Ok(d.Docker("network", "create", "--ipv6", "--subnet", prefix + "/64", net));
        var bridge = "br-" + netId[..12];
        try
        {
            await Tools.Ok(d.Docker("run", "-d", "--name", net + "-srv", "--network", net, "--network-alias", "svc6", "busybox", "sh", "-c", HttpdCmd));
            var srvIp6 = await Tools.Ok(d.Docker("inspect", "-f", Inspect("GlobalIPv6Address", net), net + "-srv"));
            Assert.StartsWith(prefix, srvIp6);
            Assert.Equal("64", await Tools.Ok(d.Docker("inspect", "-f", Inspect("GlobalIPv6PrefixLen", net), net + "-srv")));
            Assert.Equal(prefix + "1", await Tools.Ok(d.Docker("inspect", "-f", Inspect("IPv6Gateway", net), net + "-srv")));

            // By name and alias: the embedded DNS answers AAAA; the address itself over HTTP (with nc:
            // this busybox-static's wget crashes when given -T).
            var output = await Tools.Ok(d.Docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                $"ping -6 -c1 -W2 {net}-srv >/dev/null && echo by-name; ping -6 -c1 -W2 svc6 >/dev/null && echo by-alias; " +
                $"for i in $(seq 30); do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 {srvIp6} 80 | grep hello && break; sleep 0.2; done; echo hosts:$(grep -c {prefix} /etc/hosts); ip -6 route"));
            var lines = output.Split('\n');
            Assert.Contains("by-name", lines);
            Assert.Contains("by-alias", lines);
            Assert.Contains("hello-over-ipv6", lines);
            Assert.Contains("hosts:1", lines); // its own IPv6 address maps its hostname in /etc/hosts
            Assert.Contains(lines, l => l.StartsWith($"default via {prefix}1 dev eth0", StringComparison.Ordinal));

            var view = await Tools.Ok(d.Docker("network", "inspect", "-f",
                "{{.EnableIPv6}}|{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}};{{end}}|{{range .Containers}}{{.IPv6Address}}{{end}}", net));
            var parts = view.Split('|');
            Assert.Equal("true", parts[0]);
            Assert.Contains($"{prefix}/64 {prefix}1;", parts[1]);
            Assert.Matches(@"^\d+\.\d+\.\d+\.0/\d+ \d+\.\d+\.\d+\.1;", parts[1]);
            Assert.Equal(srvIp6 + "/64", parts[2]);
            Assert.Contains($"{net} true", (await Tools.Ok(d.Docker("network", "ls", "--format", "{{.Name}} {{.IPv6}}"))).Split('\n'));
            Assert.NotNull(await Ip6TableNaming(bridge));
        }
        finally
        {
            await d.Docker("rm", "-f", net + "-srv");
            await d.Docker("network", "rm", net);
        }
        Assert.DoesNotContain(bridge, Links());
        Assert.Null(await Ip6TableNaming(bridge));
    }

    [Fact]
    public async Task A_fixed_ip6_address_is_used_at_once_without_duplicate_address_detection()
    {
        d.RequireIpv6();
        var net = "f6" + Guid.NewGuid().ToString("N")[..8];
        var prefix = Ipv6DaemonFixture.RandomUla64();
        await Tools.Ok(d.Berth("network", "create", "--ipv6", "--subnet", prefix + "/64", net));
        try
        {
            var output = await Tools.Ok(d.Berth("run", "--rm", "--network", net, "--ip6", prefix + "99", "busybox", "sh", "-c",
                $"ip -6 addr show dev eth0 scope global; ping -6 -c1 -W2 {prefix}1 >/dev/null && echo gateway-reachable"));
            Assert.Contains($"inet6 {prefix}99/64", output);
            Assert.DoesNotContain("tentative", output);
            Assert.Contains("gateway-reachable", output);
        }
        finally { await d.Berth("network", "rm", net); }
    }

    [Fact]
    public async Task A_running_container_connected_to_an_ipv6_network_gets_its_ip6_on_a_new_interface()
    {
        d.RequireIpv6();
        var net = "c6" + Guid.NewGuid().ToString("N")[..8];
        var prefix = Ipv6DaemonFixture.RandomUla64();
        await Tools.Ok(d.Docker("network", "create", "--ipv6", "--subnet", prefix + "/64", net));
        var id = await Tools.Ok(d.Docker("run", "-d", "busybox", "sleep", "600"));
        try
        {
            await Tools.Ok(d.Docker("network", "connect", "--ip6", prefix + "77", net, id));
            Assert.Equal(prefix + "77", await Tools.Ok(d.Docker("inspect", "-f", Inspect("GlobalIPv6Address", net), id)));
            var probe = await Tools.Ok(d.Docker("run", "--rm", "--network", net, "busybox", "sh", "-c", $"ping -6 -c1 -W2 {prefix}77 >/dev/null && echo reachable"));
            Assert.Equal("reachable", probe);
            await Tools.Ok(d.Docker("network", "disconnect", net, id));
            Assert.DoesNotContain(net, await Tools.Ok(d.Docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", id)));
        }
        finally
        {
            await d.Docker("rm", "-f", id);
            await d.Docker("network", "rm", net);
        }
    }

    [Fact]
    public async Task Without_a_subnet_an_ipv6_network_gets_a_free_ula_64_of_its_own()
    {
        d.RequireIpv6();
        var a = "ua" + Guid.NewGuid().ToString("N")[..8];
        var b = a + "b";
        await Tools.Ok(d.Docker("network", "create", "--ipv6", a));
        await Tools.Ok(d.Docker("network", "create", "--ipv6", b));
        try
        {
            async Task<string> V6Subnet(string n) =>
                Assert.Single((await Tools.Ok(d.Docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", n))).Split(' '), s => s.Contains(':'));
            var sa = await V6Subnet(a);
            var sb = await V6Subnet(b);
            Assert.Matches("^fd[0-9a-f]{2}:[0-9a-f:]+/64$", sa);
            Assert.Matches("^fd", sb);
            Assert.NotEqual(sa, sb);
            Assert.DoesNotContain(d.Prefix6, sa + sb);
        }
        finally { await d.Docker("network", "rm", a, b); }
    }

    [Fact]
    public async Task The_default_bridge_takes_its_ipv6_subnet_from_fixed_cidr_v6()
    {
        d.RequireIpv6();
        var id = await Tools.Ok(d.Docker("run", "-d", "busybox", "sleep", "600"));
        try
        {
            var fields = await Tools.Ok(d.Docker("inspect", "-f",
                "{{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}} {{.NetworkSettings.Networks.bridge.GlobalIPv6Address}}", id));
            var f = fields.Split(' ');
            Assert.StartsWith(d.Prefix6, f[0]);
            Assert.Equal("64", f[1]);
            Assert.Equal(d.Prefix6 + "1", f[2]);
            Assert.Equal(f[0], f[3]);
            Assert.Contains("gateway-reachable", await Tools.Ok(d.Docker("run", "--rm", "busybox", "sh", "-c", $"ping -6 -c1 -W2 {d.Prefix6}1 >/dev/null && echo gateway-reachable")));
            Assert.Equal("true", await Tools.Ok(d.Docker("network", "inspect", "-f", "{{.EnableIPv6}}", "bridge")));
        }
        finally { await d.Docker("rm", "-f", id); }
    }

    [Fact]
    public async Task A_port_published_on_ipv6_loopback_reaches_the_container_over_ipv6()
    {
        d.RequireIpv6();
        var net = "p6" + Guid.NewGuid().ToString("N")[..8];
        await Tools.Ok(d.Docker("network", "create", "--ipv6", "--subnet", Ipv6DaemonFixture.RandomUla64() + "/64", net));
        string? id = null;
        try
        {
            id = await Tools.Ok(d.Docker("run", "-d", "--network", net, "-p", "[::1]::80", "busybox", "sh", "-c", HttpdCmd));
            var mapping = await Tools.Ok(d.Docker("port", id, "80/tcp"));
            Assert.StartsWith("[::1]:", mapping);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            string body = "";
            for (int i = 0; i < 20 && body.Length == 0; i++)
            {
                try { body = await http.GetStringAsync($"http://{mapping}/"); }
                catch (HttpRequestException) { await Task.Delay(100); }
            }
            Assert.Equal("hello-over-ipv6\n", body);
        }
        finally
        {
            if (id is not null) await d.Docker("rm", "-f", id);
            await d.Docker("network", "rm", net);
        }
    }

    [Fact]
    public async Task Bad_ipv6_input_gets_dockers_errors_and_leaves_nothing_half_made()
    {
        d.RequireIpv6();
        var net = "e6" + Guid.NewGuid().ToString("N")[..8];
        var plain = net + "p";
        var prefix = Ipv6DaemonFixture.RandomUla64();
        await Tools.Ok(d.Docker("network", "create", "--ipv6", "--subnet", prefix + "/64", net));
        await Tools.Ok(d.Docker("network", "create", plain));
        try
        {
            // A subnet overlapping another network's: 403, and no network.
            var (code, _, err) = await d.Docker("network", "create", "--ipv6", "--subnet", prefix + "/80", net + "x");
            Assert.Equal(1, code);
            Assert.Contains("Pool overlaps with other one on this address space", err);
            Assert.DoesNotContain(net + "x", (await Tools.Ok(d.Docker("network", "ls", "--format", "{{.Name}}"))).Split('\n'));

            // An IPv6 subnet on a network without --ipv6.
            (code, _, err) = await d.Docker("network", "create", "--subnet", Ipv6DaemonFixture.RandomUla64() + "/64", net + "y");
            Assert.Equal(1, code);
            Assert.Contains("invalid network config", err);
            Assert.Contains("--ipv6", err);

            // An IPv4 gateway for the IPv6 subnet, through the API (the CLI refuses it before sending).
            using var client = d.Client();
            var resp = await client.PostAsync("/networks/create", new StringContent(
                $$$"""{"Name":"{{{net}}}z","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"{{{Ipv6DaemonFixture.RandomUla64()}}}/64","Gateway":"10.1.2.1"}]}}""",
                System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
            Assert.Contains("invalid gateway 10.1.2.1: parent subnet is an IPv6 block", await resp.Content.ReadAsStringAsync());

            // --ip6 outside the subnet, and on a network without IPv6: 400 at create, no container.
            (code, _, err) = await d.Docker("run", "--rm", "--name", net + "-c1", "--network", net, "--ip6", "fd00:dead::5", "busybox", "true");
            Assert.Equal(125, code);
            Assert.Contains($"invalid config for network {net}: invalid endpoint settings:\nno configured subnet or ip-range contain the IP address fd00:dead::5", err);
            (code, _, err) = await d.Docker("run", "--rm", "--name", net + "-c2", "--network", plain, "--ip6", prefix + "5", "busybox", "true");
            Assert.Equal(125, code);
            Assert.Contains("user specified IP address is supported only when connecting to networks with user configured subnets", err);
            (code, _, err) = await d.Docker("run", "--rm", "--name", net + "-c3", "--network", net, "--ip6", "10.1.2.3", "busybox", "true");
            Assert.NotEqual(0, code);
            Assert.Contains("10.1.2.3", err);
            Assert.Equal("", await Tools.Ok(d.Docker("ps", "-aq", "--filter", $"name={net}-c")));
        }
        finally { await d.Docker("network", "rm", net, plain); }
    }

    [Fact]
    public async Task Berthd_refuses_an_ipv4_prefix_as_fixed_cidr_v6()
    {
        d.Require();
        // Private roots and socket, so even a daemon that wrongly started would touch nothing shared.
        var unused = Path.Combine(d.Root, "unused");
        var (code, _, err) = await Tools.RunAsync(Path.Combine(d.BinDir, "berthd"), ["--ipv6", "--fixed-cidr-v6", "10.1.0.0/24", "--bridge", "none",
            "-H", $"unix://{unused}.sock", "--data-root", unused, "--exec-root", unused + "-exec"]);
        Assert.Equal(125, code);
        Assert.Contains("invalid IPv6 CIDR address: 10.1.0.0/24", err);
        Assert.False(Directory.Exists(unused));
    }

    [Fact]
    public async Task Clean_shutdown_leaves_no_ip6_rules_bridge_or_veth()
    {
        d.RequireIpv6();
        var net = "s6" + Guid.NewGuid().ToString("N")[..8];
        var netId = await Tools.Ok(d.Docker("network", "create", "--ipv6", "--subnet", Ipv6DaemonFixture.RandomUla64() + "/64", net));
        await Tools.Ok(d.Docker("run", "--rm", "--network", net, "busybox", "true"));
        Assert.NotNull(await Ip6TableNaming(d.BridgeName));
        await d.StopDaemonAsync();
        try
        {
            Assert.Null(await Ip6TableNaming(d.BridgeName));
            Assert.Null(await Ip6TableNaming("br-" + netId[..12]));
            Assert.DoesNotContain(d.BridgeName, Links());
            Assert.DoesNotContain("br-" + netId[..12], Links());
        }
        finally
        {
            await d.StartDaemonAsync();
            await d.Docker("network", "rm", net);
        }
    }
}
