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
    static async Task<string> Ok(Task<(int Code, string Out, string Err)> run)
    {
        var (code, output, err) = await run;
        Assert.True(code == 0, $"exit {code}: {err}{output}");
        return output.Trim();
    }

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
        var id = await Ok(d.Docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sh", "-c", HttpdCmd));
        try
        {
            var port = (await Ok(d.Docker("port", id, "80/tcp"))).Split(':').Last();
            Assert.Equal("hello-from-berth\n", await HttpGet($"http://127.0.0.1:{port}/"));
            var ip = await Ok(d.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id));
            Assert.StartsWith(d.Subnet + ".", ip);
            Assert.Equal("hello-from-berth\n", await HttpGet($"http://{ip}/"));
        }
        finally { await d.Docker("rm", "-f", id); }
        Assert.Empty(VethsOnBridge());
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
            Assert.Equal("created", await Ok(d.Docker("inspect", "-f", "{{.State.Status}}", "port-clash")));
            Assert.Empty(VethsOnBridge());
            Assert.Equal("", await Ok(d.Docker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "port-clash")));
        }
        finally { await d.Docker("rm", "-f", "port-clash"); }
    }

    [Fact]
    public async Task Containers_on_a_user_network_reach_each_other_by_name_and_alias()
    {
        d.Require();
        var net = "un" + Guid.NewGuid().ToString("N")[..8];
        await Ok(d.Docker("network", "create", net));
        try
        {
            await Ok(d.Docker("run", "-d", "--name", net + "-srv", "--network", net, "--network-alias", "svc", "busybox", "sh", "-c", HttpdCmd));
            var output = await Ok(d.Docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                $"cat /etc/resolv.conf; wget -q -O - http://{net}-srv/ && wget -q -O - http://svc/"));
            Assert.Contains("nameserver 127.0.0.11", output);
            Assert.Equal(2, output.Split("hello-from-berth").Length - 1);
            var inspect = await Ok(d.Docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", net));
            Assert.Equal(net + "-srv", inspect);
            // Networks are isolated from each other: the default bridge can't reach the user network.
            var ip = await Ok(d.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", net + "-srv"));
            var (code, _, _) = await d.Docker("run", "--rm", "busybox", "wget", "-q", "-T", "2", "-O", "-", $"http://{ip}/");
            Assert.NotEqual(0, code);
        }
        finally
        {
            await d.Docker("rm", "-f", net + "-srv");
            await d.Docker("network", "rm", net);
        }
        Assert.DoesNotContain((await Ok(d.Docker("network", "ls", "--format", "{{.Name}}"))).Split('\n'), n => n == net);
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
        await Ok(d.Docker("network", "create", open));
        await Ok(d.Docker("network", "create", "--internal", closed));
        try
        {
            string[] connect = ["busybox", "nc", "-w", "3", d.Subnet + ".1", port.ToString()];
            Assert.Contains("outside", await Ok(d.Docker(["run", "--rm", "--network", open, .. connect])));
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
        var id = await Ok(d.Docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sh", "-c", HttpdCmd));
        var stale = "bs" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var port = (await Ok(d.Docker("port", id, "80/tcp"))).Split(':').Last();
            await d.CrashDaemonAsync();
            // What a crash in the middle of a start leaves: a veth on the bridge nobody owns.
            Assert.Equal(0, (await Tools.RunAsync("ip", ["link", "add", stale, "type", "veth", "peer", "name", stale + "p"])).Code);
            Assert.Equal(0, (await Tools.RunAsync("ip", ["link", "set", stale, "master", d.BridgeName])).Code);
            await d.StartDaemonAsync();

            Assert.DoesNotContain(stale, Links());
            Assert.Single(VethsOnBridge());
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
        var netId = await Ok(d.Docker("network", "create", net));
        await Ok(d.Docker("run", "--rm", "--network", net, "-p", "127.0.0.1::80", "busybox", "true"));
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
}
