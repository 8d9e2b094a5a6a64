using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// Bridge networking end to end with the real docker CLI against a berthd on a private bridge
/// and subnet: published ports, user networks with DNS, --internal, a crash and restart, and
/// that a clean shutdown leaves no bridge, veth or firewall table.
/// </summary>
public sealed class NetworkTests(NetworkDaemonFixture d) : IClassFixture<NetworkDaemonFixture>
{
    static async Task<string> HttpGet(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (int i = 0; ; i++)
        {
            try { return await http.GetStringAsync(url); }
            catch (HttpRequestException) when (i < 20) { await Task.Delay(100); }
        }
    }

    const string HttpdCmd = "mkdir -p /www && echo hello-from-berth > /www/index.html && exec httpd -f -p 80 -h /www";

    static string[] Links() => Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName).ToArray()!;

    string[] VethsOnBridge() =>
        Directory.Exists($"/sys/class/net/{d.BridgeName}/brif") ? Directory.GetDirectories($"/sys/class/net/{d.BridgeName}/brif").Select(Path.GetFileName).ToArray()! : [];

    /// <summary>berthd deletes an exited container's veth just after reporting the exit, so the count settles within moments.</summary>
    async Task AssertVethsOnBridge(int expected)
    {
        for (int i = 0; i < 50 && VethsOnBridge().Length != expected; i++) await Task.Delay(100);
        Assert.Equal(expected, VethsOnBridge().Length);
    }

    /// <summary>The nftables table of this fixture's daemon: the berth table whose rules name its bridge.</summary>
    async Task<string?> OwnFirewallTable()
    {
        var (_, tables, _) = await Tools.RunAsync("nft", ["list", "tables"]);
        foreach (var t in tables.Split('\n').Select(t => t.Trim()).Where(t => t.StartsWith("table ip berth", StringComparison.Ordinal)))
        {
            var (_, rules, _) = await Tools.RunAsync("nft", ["list", .. t.Split(' ')]);
            if (rules.Contains($"\"{d.BridgeName}\"")) return t;
        }
        return null;
    }

    [Fact]
    public async Task Http_server_in_a_container_is_reachable_from_the_host_through_its_published_port()
    {
        d.Require();
        var id = await Tools.Ok(d.Docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sh", "-c", HttpdCmd));
        try
        {
            var port = (await Tools.Ok(d.Docker("port", id, "80/tcp"))).Split(':').Last();
            Assert.Equal("hello-from-berth\n", await HttpGet($"http://127.0.0.1:{port}/"));
            var ip = await Tools.Ok(d.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id));
            Assert.StartsWith(d.Subnet + ".", ip);
            Assert.Equal("hello-from-berth\n", await HttpGet($"http://{ip}/"));
        }
        finally { await d.Docker("rm", "-f", id); }
        await AssertVethsOnBridge(0);
    }

    [Fact]
    public async Task A_port_already_taken_fails_with_a_clear_error_and_leaves_nothing_behind()
    {
        d.Require();
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var (code, _, err) = await d.Docker("run", "--name", "port-clash", "-p", $"127.0.0.1:{port}:80", "busybox", "true");
        try
        {
            Assert.Equal(125, code);
            Assert.Contains("port is already allocated", err);
            Assert.Equal("created", await Tools.Ok(d.Docker("inspect", "-f", "{{.State.Status}}", "port-clash")));
            await AssertVethsOnBridge(0);
            Assert.Equal("", await Tools.Ok(d.Docker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "port-clash")));
        }
        finally { await d.Docker("rm", "-f", "port-clash"); }
    }

    [Fact]
    public async Task Containers_on_a_user_network_reach_each_other_by_name_and_alias()
    {
        d.Require();
        var net = "un" + Guid.NewGuid().ToString("N")[..8];
        await Tools.Ok(d.Docker("network", "create", net));
        try
        {
            await Tools.Ok(d.Docker("run", "-d", "--name", net + "-srv", "--network", net, "--network-alias", "svc", "busybox", "sh", "-c", HttpdCmd));
            var output = await Tools.Ok(d.Docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                $"cat /etc/resolv.conf; wget -q -O - http://{net}-srv/ && wget -q -O - http://svc/"));
            Assert.Contains("nameserver 127.0.0.11", output);
            Assert.Equal(2, output.Split("hello-from-berth").Length - 1);
            var inspect = await Tools.Ok(d.Docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", net));
            Assert.Equal(net + "-srv", inspect);
            // Networks are isolated from each other: the default bridge can't reach the user network.
            var ip = await Tools.Ok(d.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", net + "-srv"));
            // nc, not wget: this busybox-static's wget crashes when given -T, which would pass for "blocked".
            var crossed = await Tools.Ok(d.Docker("run", "--rm", "busybox", "sh", "-c",
                $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80 || echo blocked"));
            Assert.DoesNotContain("hello-from-berth", crossed);
            Assert.Contains("blocked", crossed);
        }
        finally
        {
            await d.Docker("rm", "-f", net + "-srv");
            await d.Docker("network", "rm", net);
        }
        Assert.DoesNotContain((await Tools.Ok(d.Docker("network", "ls", "--format", "{{.Name}}"))).Split('\n'), n => n == net);
    }

    [Fact]
    public async Task Internal_network_cuts_off_outbound_traffic()
    {
        d.Require();
        // A server on the daemon's own bridge address stands for "outside": a normal network
        // reaches it through its gateway and NAT, an internal one must not.
        using var outside = new TcpListener(IPAddress.Parse(d.Subnet + ".1"), 0);
        outside.Start();
        var port = ((IPEndPoint)outside.LocalEndpoint).Port;
        using var cts = new CancellationTokenSource();
        var serve = Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested)
            {
                using var c = await outside.AcceptTcpClientAsync(cts.Token);
                await c.GetStream().WriteAsync("outside\n"u8.ToArray(), cts.Token);
            }
        });
        var open = "on" + Guid.NewGuid().ToString("N")[..8];
        var closed = "in" + Guid.NewGuid().ToString("N")[..8];
        await Tools.Ok(d.Docker("network", "create", open));
        await Tools.Ok(d.Docker("network", "create", "--internal", closed));
        try
        {
            string[] connect = ["busybox", "nc", "-w", "3", d.Subnet + ".1", port.ToString()];
            Assert.Contains("outside", await Tools.Ok(d.Docker(["run", "--rm", "--network", open, .. connect])));
            var (code, output, _) = await d.Docker(["run", "--rm", "--network", closed, .. connect]);
            Assert.DoesNotContain("outside", output);
            Assert.NotEqual(0, code);
        }
        finally
        {
            cts.Cancel();
            outside.Stop();
            await d.Docker("network", "rm", open, closed);
        }
    }

    [Fact]
    public async Task After_sigkill_and_restart_stale_veths_are_removed_and_running_containers_keep_networking()
    {
        d.Require();
        var id = await Tools.Ok(d.Docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sh", "-c", HttpdCmd));
        var stale = "bs" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var port = (await Tools.Ok(d.Docker("port", id, "80/tcp"))).Split(':').Last();
            await d.CrashDaemonAsync();
            // What a crash in the middle of a start leaves: a veth on the bridge nobody owns.
            Assert.Equal(0, (await Tools.RunAsync("ip", ["link", "add", stale, "type", "veth", "peer", "name", stale + "p"])).Code);
            Assert.Equal(0, (await Tools.RunAsync("ip", ["link", "set", stale, "master", d.BridgeName])).Code);
            await d.StartDaemonAsync();

            Assert.DoesNotContain(stale, Links());
            await AssertVethsOnBridge(1);
            Assert.Equal("hello-from-berth\n", await HttpGet($"http://127.0.0.1:{port}/"));
        }
        finally
        {
            await Tools.RunAsync("ip", ["link", "del", stale]);
            await d.Docker("rm", "-f", id);
        }
    }

    [Fact]
    public async Task Clean_shutdown_leaves_no_bridge_veth_or_firewall_table()
    {
        d.Require();
        var net = "sd" + Guid.NewGuid().ToString("N")[..8];
        var netId = await Tools.Ok(d.Docker("network", "create", net));
        await Tools.Ok(d.Docker("run", "--rm", "--network", net, "-p", "127.0.0.1::80", "busybox", "true"));
        var table = await OwnFirewallTable();
        Assert.NotNull(table);
        await d.StopDaemonAsync();
        try
        {
            Assert.DoesNotContain(d.BridgeName, Links());
            Assert.DoesNotContain("br-" + netId[..12], Links());
            var (_, tables, _) = await Tools.RunAsync("nft", ["list", "tables"]);
            Assert.DoesNotContain(table, tables.Split('\n').Select(t => t.Trim()));
        }
        finally
        {
            await d.StartDaemonAsync();
            await d.Docker("network", "rm", net);
        }
    }

    /// <summary>Our CLI and docker's, against the same daemon, print the same bytes and exit the same way.</summary>
    async Task AssertBerthPrintsLikeDocker(params string[] args)
    {
        var ours = await d.Berth(args);
        var theirs = await d.Docker(args);
        Assert.True((theirs.Code, theirs.Out, theirs.Err) == (ours.Code, ours.Out, ours.Err),
            $"berth {string.Join(' ', args)}: exit {ours.Code}\n{ours.Out}{ours.Err}\ndocker: exit {theirs.Code}\n{theirs.Out}{theirs.Err}");
    }

    [Fact]
    public async Task Berth_network_and_port_commands_print_what_docker_prints()
    {
        d.Require();
        var net = "cl" + Guid.NewGuid().ToString("N")[..8];
        var other = net + "b";
        var id = await Tools.Ok(d.Berth("network", "create", "--subnet", "10.199.7.0/24", "--label", "berth-cli-test=1", net));
        Assert.Matches("^[0-9a-f]{64}$", id);
        await Tools.Ok(d.Berth("network", "create", "--internal", "--label", "berth-cli-test=1", other));
        string? container = null;
        try
        {
            await AssertBerthPrintsLikeDocker("network", "ls");
            await AssertBerthPrintsLikeDocker("network", "ls", "-q", "--no-trunc");
            await AssertBerthPrintsLikeDocker("network", "ls", "--filter", "label=berth-cli-test", "--format", "{{json .}}");
            await AssertBerthPrintsLikeDocker("network", "ls", "--format", "table {{.Name}}\t{{.Internal}}\t{{.Label \"berth-cli-test\"}}");
            await AssertBerthPrintsLikeDocker("network", "inspect", net, "bridge");
            await AssertBerthPrintsLikeDocker("network", "inspect", "-f", "{{.Name}} {{.Internal}}", net, other, "no-such-net");
            await AssertBerthPrintsLikeDocker("network", "create", "--subnet", "10.199.8.0/24", "--gateway", "10.199.9.1", net + "c");

            container = await Tools.Ok(d.Berth("run", "-d", "--network", net, "--ip", "10.199.7.50", "--network-alias", "svc",
                "-p", "127.0.0.1::80", "-p", "127.0.0.1::81/udp", "busybox", "sleep", "600"));
            Assert.Equal("10.199.7.50", await Tools.Ok(d.Docker("inspect", "-f", $"{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}", container)));
            Assert.Equal("[svc]", await Tools.Ok(d.Docker("inspect", "-f", $"{{{{.NetworkSettings.Networks.{net}.Aliases}}}}", container)));
            await AssertBerthPrintsLikeDocker("port", container);
            await AssertBerthPrintsLikeDocker("port", container, "80");
            await AssertBerthPrintsLikeDocker("port", container, "81/udp");
            await AssertBerthPrintsLikeDocker("port", container, "82");
            Assert.Matches(@"^80/tcp -> 127\.0\.0\.1:\d+\n81/udp -> 127\.0\.0\.1:\d+$", await Tools.Ok(d.Berth("port", container)));

            await Tools.Ok(d.Berth("network", "connect", "--alias", "second", other, container));
            Assert.Equal($"{net} {other} ", await Tools.Ok(d.Docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", container)) + " ");
            await AssertBerthPrintsLikeDocker("network", "inspect", "-f", "{{range .Containers}}{{.IPv4Address}}{{end}}", net);
            await AssertBerthPrintsLikeDocker("network", "rm", other);
            await Tools.Ok(d.Berth("network", "disconnect", other, container));
            Assert.Equal(net, await Tools.Ok(d.Docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", container)));

            var pruned = await d.Berth("network", "prune", "-f", "--filter", "label=berth-cli-test");
            Assert.Equal((0, $"Deleted Networks:\n{other}\n\n"), (pruned.Code, pruned.Out));
            await AssertBerthPrintsLikeDocker("network", "rm", "-f", other);
            await AssertBerthPrintsLikeDocker("network", "rm", other);
        }
        finally
        {
            if (container is not null) await d.Berth("rm", "-f", container);
            await d.Berth("network", "rm", net, other);
        }
        var gone = await d.Berth("network", "ls", "-q", "--filter", "label=berth-cli-test");
        Assert.Equal((0, ""), (gone.Code, gone.Out));
    }

    [Fact]
    public async Task Containers_reach_their_own_and_each_others_published_ports_through_the_host_address()
    {
        d.Require();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        // Published on the bridge's own (host) address only, so nothing listens beyond this host.
        var hostAddr = d.Subnet + ".1";
        var fetch = $"for i in $(seq 30); do wget -qO- http://{hostAddr}:{port}/ && exit 0; sleep 0.2; done; exit 1";
        var own = await Tools.Ok(d.Docker("run", "--rm", "-p", $"{hostAddr}:{port}:80", "busybox", "sh", "-c",
            $"mkdir -p /www && echo hello-from-berth > /www/index.html && httpd -p 80 -h /www && {fetch}"));
        Assert.Equal("hello-from-berth", own);

        var server = await Tools.Ok(d.Docker("run", "-d", "-p", $"{hostAddr}:{port}:80", "busybox", "sh", "-c", HttpdCmd));
        try { Assert.Equal("hello-from-berth", await Tools.Ok(d.Docker("run", "--rm", "busybox", "sh", "-c", fetch))); }
        finally { await d.Docker("rm", "-f", server); }
    }

    [Fact]
    public async Task Legacy_links_on_the_default_bridge_give_hosts_entries_and_docker_variables()
    {
        d.Require();
        var target = "lk" + Guid.NewGuid().ToString("N")[..8];
        var client = target + "c";
        var id = await Tools.Ok(d.Docker("run", "-d", "--name", target, "--expose", "5432", "--expose", "53/udp", "-e", "SECRET=s3", "busybox", "sleep", "600"));
        try
        {
            var ip = await Tools.Ok(d.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id));
            var output = await Tools.Ok(d.Docker("run", "--rm", "--name", client, "--link", $"{target}:db", "busybox", "sh", "-c",
                "grep -w db /etc/hosts; env | grep ^DB_ | sort; ping -c1 -W2 db >/dev/null && echo reachable"));
            var lines = output.Split('\n');
            Assert.Contains($"{ip}\tdb {id[..12]} {target}", lines);
            Assert.Contains($"DB_PORT=tcp://{ip}:5432", lines);
            Assert.Contains($"DB_PORT_5432_TCP=tcp://{ip}:5432", lines);
            Assert.Contains($"DB_PORT_5432_TCP_ADDR={ip}", lines);
            Assert.Contains("DB_PORT_5432_TCP_PORT=5432", lines);
            Assert.Contains("DB_PORT_53_UDP_PROTO=udp", lines);
            Assert.Contains($"DB_NAME=/{client}/db", lines);
            Assert.Contains("DB_ENV_SECRET=s3", lines);
            Assert.Contains("reachable", lines);
            Assert.Equal($"[/{target}:/{client}/db]", await Tools.Ok(d.Docker("inspect", "-f", "{{.HostConfig.Links}}", await Tools.Ok(d.Docker("create", "--name", client, "--link", $"{target}:db", "busybox")))));

            var (code, _, err) = await d.Docker("run", "--rm", "--link", "no-such-container:db", "busybox", "true");
            Assert.Equal(125, code);
            Assert.Contains("could not get container for no-such-container", err);
        }
        finally { await d.Docker("rm", "-f", id, client); }
    }

    [Fact]
    public async Task A_link_on_a_user_network_resolves_its_alias_and_opens_icc_off_for_exposed_ports_only()
    {
        d.Require();
        var net = "li" + Guid.NewGuid().ToString("N")[..8];
        await Tools.Ok(d.Docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", net));
        try
        {
            await Tools.Ok(d.Docker("run", "-d", "--name", net + "-db", "--network", net, "--expose", "80", "busybox", "sh", "-c", HttpdCmd));
            await Tools.Ok(d.Docker("run", "-d", "--name", net + "-other", "--network", net, "--expose", "80", "busybox", "sh", "-c", HttpdCmd));
            // nc, not wget: this busybox-static's wget crashes when given -T.
            const string get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2";
            var output = await Tools.Ok(d.Docker("run", "--rm", "--network", net, "--link", $"{net}-db:dbalias", "busybox", "sh", "-c",
                $"for i in $(seq 20); do {get} dbalias 80 | grep hello && break; sleep 0.2; done; {get} {net}-other 80 | grep hello || echo other-blocked"));
            var lines = output.Split('\n');
            Assert.Contains("hello-from-berth", lines);
            Assert.Contains("other-blocked", lines);
            // The alias is the linking container's only.
            var (_, unlinked, _) = await d.Docker("run", "--rm", "--network", net, "busybox", "sh", "-c", "nslookup dbalias 127.0.0.11 >/dev/null 2>&1 || echo unknown");
            Assert.Contains("unknown", unlinked);
        }
        finally
        {
            await d.Docker("rm", "-f", net + "-db", net + "-other");
            await d.Docker("network", "rm", net);
        }
    }
}
