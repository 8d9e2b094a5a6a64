using System.Globalization;
using System.Net;
using System.Text.Json;
using Berth.Api;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

/// <summary>
/// <c>network create|ls|inspect|rm|connect|disconnect|prune</c> with docker's flags and output:
/// the ls table sorted by name in natural order, inspect as indented JSON or a template, rm
/// printing each removed name.
/// </summary>
public static class NetworkCommands
{
    public static IEnumerable<Command> All() => new Command[]
    {
        new("network create", "network create [OPTIONS] NETWORK", "Create a network",
            new Flag[]
            {
                new("driver", 'd'), new("opt", 'o'), new("label"), new("internal", IsBool: true), new("ipv4", IsBool: true),
                new("ipv6", IsBool: true), new("attachable", IsBool: true), new("ingress", IsBool: true), new("scope"),
                new("config-only", IsBool: true), new("config-from"), new("ipam-driver"), new("subnet"), new("ip-range"),
                new("gateway"), new("aux-address"), new("ipam-opt"),
            }, (c, p) => ClientSideChecked(c, p, Create), MinArgs: 1, MaxArgs: 1),
        new("network ls", "network ls [OPTIONS]", "List networks",
            new Flag[] { new("quiet", 'q', true), new("no-trunc", IsBool: true), new("format"), new("filter", 'f') }, List, MaxArgs: 0),
        new("network inspect", "network inspect [OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks",
            new Flag[] { new("format", 'f'), new("verbose", 'v', true) }, Inspect, MinArgs: 1),
        new("network rm", "network rm NETWORK [NETWORK...]", "Remove one or more networks",
            new Flag[] { new("force", 'f', true) }, Remove, MinArgs: 1),
        new("network connect", "network connect [OPTIONS] NETWORK CONTAINER", "Connect a container to a network",
            new Flag[]
            {
                new("ip"), new("ip6"), new("link"), new("alias"), new("link-local-ip"), new("driver-opt"), new("gw-priority"), new("mac-address"),
            }, (c, p) => ClientSideChecked(c, p, Connect), MinArgs: 2, MaxArgs: 2),
        new("network disconnect", "network disconnect [OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network",
            new Flag[] { new("force", 'f', true) }, Disconnect, MinArgs: 2, MaxArgs: 2),
        new("network prune", "network prune [OPTIONS]", "Remove all unused networks",
            new Flag[] { new("force", 'f', true), new("filter") }, Prune, MaxArgs: 0),
    };

    /// <summary>Checks docker makes inside the command (not while parsing flags) fail with status 1, not 125.</summary>
    static async Task<int> ClientSideChecked(Cli c, ParsedArgs p, Func<Cli, ParsedArgs, Task<int>> run)
    {
        try { return await run(c, p); }
        catch (UsageException e)
        {
            c.Err.WriteLine(e.Message);
            return 1;
        }
    }

    /// <summary>pflag's StringSlice flags: every occurrence, each split at commas.</summary>
    static List<string> Slice(ParsedArgs p, string flag) =>
        p.All(flag).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList();

    /// <summary>docker's MapOpts/label flags: <c>k=v</c> (a bare <c>k</c> is <c>k=""</c>), later ones win.</summary>
    static Dictionary<string, string> KeyValues(IEnumerable<string> values)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            int eq = v.IndexOf('=');
            map[eq < 0 ? v : v[..eq]] = eq < 0 ? "" : v[(eq + 1)..];
        }
        return map;
    }

    static async Task<int> Create(Cli c, ParsedArgs p)
    {
        var req = new NetworkCreateRequest
        {
            Name = p.Positionals[0],
            Driver = p.Get("driver") ?? "bridge",
            Scope = p.Get("scope") ?? "",
            Internal = p.Bool("internal"),
            Attachable = p.Bool("attachable"),
            Ingress = p.Bool("ingress"),
            ConfigOnly = p.Bool("config-only"),
            EnableIPv4 = p.Has("ipv4") ? p.Bool("ipv4") : null,
            EnableIPv6 = p.Has("ipv6") ? p.Bool("ipv6") : null,
            Options = KeyValues(p.All("opt")),
            Labels = KeyValues(p.All("label")),
            IPAM = new Ipam
            {
                Driver = p.Get("ipam-driver") ?? "default",
                Options = KeyValues(p.All("ipam-opt")),
                Config = IpamConfigs(Slice(p, "subnet"), Slice(p, "ip-range"), Slice(p, "gateway"), KeyValues(p.All("aux-address"))),
            },
        };
        if (p.Get("config-from") is { Length: > 0 } from)
            throw new UsageException($"--config-from {from}: configuration-only networks are not supported");
        var resp = await c.Client.PostJsonAsync("/networks/create", null,
            JsonSerializer.SerializeToUtf8Bytes(req, ApiJson.Default.NetworkCreateRequest), ApiJson.Default.NetworkCreateResponse);
        c.Out.WriteLine(resp.Id);
        return 0;
    }

    /// <summary>
    /// Groups ranges, gateways and aux addresses under the subnet that contains them, with docker's
    /// client-side checks and messages (overlapping subnets, a range or gateway with no subnet).
    /// </summary>
    public static List<IpamConfig> IpamConfigs(List<string> subnets, List<string> ranges, List<string> gateways, Dictionary<string, string> aux)
    {
        if (subnets.Count < ranges.Count || subnets.Count < gateways.Count)
            throw new UsageException("every ip-range or gateway must have a corresponding subnet");
        var configs = new List<(IPNetwork Net, IpamConfig Config)>();
        foreach (var s in subnets)
        {
            var net = ParseCidr(s, "invalid subnet");
            if (configs.Any(x => x.Net.Contains(net.BaseAddress) || net.Contains(x.Net.BaseAddress)))
                throw new UsageException("multiple overlapping subnet configuration is not supported");
            configs.Add((net, new IpamConfig { Subnet = s }));
        }
        foreach (var r in ranges)
        {
            var range = ParseCidr(r, "invalid CIDR address");
            var hits = configs.Where(x => x.Net.Contains(range.BaseAddress)).ToList();
            if (hits.Count == 0) throw new UsageException($"no matching subnet for range {r}");
            foreach (var (_, cfg) in hits)
            {
                if (cfg.IPRange is not null) throw new UsageException($"cannot configure multiple ranges ({r}, {cfg.IPRange}) on the same subnet ({cfg.Subnet})");
                cfg.IPRange = r;
            }
        }
        foreach (var g in gateways)
        {
            if (!IPAddress.TryParse(g, out var gw)) throw new UsageException($"invalid argument \"{g}\" for \"--gateway\" flag: invalid string being converted to IP address: {g}");
            var hits = configs.Where(x => x.Net.Contains(gw)).ToList();
            if (hits.Count == 0) throw new UsageException($"no matching subnet for gateway {g}");
            foreach (var (_, cfg) in hits)
            {
                if (cfg.Gateway is not null) throw new UsageException($"cannot configure multiple gateways ({g}, {cfg.Gateway}) for the same subnet ({cfg.Subnet})");
                cfg.Gateway = g;
            }
        }
        foreach (var (key, a) in aux)
        {
            if (!IPAddress.TryParse(a, out var addr)) throw new UsageException($"ParseAddr(\"{a}\"): unable to parse IP");
            var hits = configs.Where(x => x.Net.Contains(addr)).ToList();
            if (hits.Count == 0) throw new UsageException($"no matching subnet for aux-address {a}");
            foreach (var (_, cfg) in hits) (cfg.AuxiliaryAddresses ??= new())[key] = a;
        }
        return configs.Select(x => x.Config).ToList();
    }

    /// <summary>A CIDR as Go's net.ParseCIDR reads it: host bits are allowed and masked off.</summary>
    static IPNetwork ParseCidr(string s, string what)
    {
        int slash = s.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(s[..slash], out var ip) || !int.TryParse(s[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var bits)
            || bits > (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))
            throw new UsageException($"{what}: invalid CIDR address: {s}");
        var bytes = ip.GetAddressBytes();
        for (int i = 0; i < bytes.Length; i++)
        {
            int keep = Math.Clamp(bits - i * 8, 0, 8);
            bytes[i] &= (byte)(0xff << (8 - keep));
        }
        return new IPNetwork(new IPAddress(bytes), bits);
    }

    // ------------------------------------------------------------------ ls

    static readonly Row ListHeaders = new()
    {
        ["ID"] = "NETWORK ID", ["Name"] = "NAME", ["Driver"] = "DRIVER", ["Scope"] = "SCOPE", ["IPv4"] = "IPV4", ["IPv6"] = "IPV6",
        ["Internal"] = "INTERNAL", ["Labels"] = "LABELS", ["CreatedAt"] = "CREATED AT", ["Label"] = Row.LabelHeader,
    };

    static async Task<int> List(Cli c, ParsedArgs p)
    {
        var q = new Query().Add("filters", ContainerCommands.ParseFilters(p.All("filter")));
        var networks = await c.Client.GetJsonAsync("/networks", q, ApiJson.Default.ListNetworkResource);
        var format = p.Get("format");
        if (format is null or "" or "table") format = p.Bool("quiet") ? "{{.ID}}" : "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
        else if (format == "json") format = "{{json .}}";
        else if (format == "raw") format = p.Bool("quiet") ? "network_id: {{.ID}}" : "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n";
        networks.Sort((a, b) => NaturalOrder.Compare(a.Name, b.Name));
        bool trunc = !p.Bool("no-trunc");
        c.WriteFormatted(format, networks.Select(n => ListRow(n, trunc)), ListHeaders);
        return 0;
    }

    public static Row ListRow(NetworkResource n, bool trunc) => new()
    {
        ["ID"] = trunc ? ContainerCommands.ShortId(n.Id) : n.Id,
        ["Name"] = n.Name,
        ["Driver"] = n.Driver,
        ["Scope"] = n.Scope,
        ["IPv4"] = n.EnableIPv4 ? "true" : "false",
        ["IPv6"] = n.EnableIPv6 ? "true" : "false",
        ["Internal"] = n.Internal ? "true" : "false",
        ["Labels"] = string.Join(",", n.Labels.Select(kv => kv.Key + "=" + kv.Value)),
        ["CreatedAt"] = GoTime(n.Created),
        ["Label"] = (RowMethod)(args => args.Count == 1 && n.Labels.TryGetValue(GoJson.Print(args[0]), out var v) ? v : ""),
    };

    /// <summary>
    /// Go's time.Time.String() of a time decoded from RFC 3339: the zone it was written in is kept
    /// (Z is "+0000 UTC") and the fraction loses its trailing zeros.
    /// </summary>
    public static string GoTime(string rfc3339)
    {
        if (!DateTimeOffset.TryParse(rfc3339, CultureInfo.InvariantCulture, DateTimeStyles.None, out var t)) return rfc3339;
        var sb = new System.Text.StringBuilder(t.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        int dot = rfc3339.IndexOf('.');
        if (dot > 0)
        {
            int end = dot + 1;
            while (end < rfc3339.Length && char.IsAsciiDigit(rfc3339[end])) end++;
            var frac = rfc3339[(dot + 1)..end].TrimEnd('0');
            if (frac.Length > 0) sb.Append('.').Append(frac);
        }
        var off = t.Offset;
        var offset = (off < TimeSpan.Zero ? "-" : "+") + $"{Math.Abs(off.Hours):00}{Math.Abs(off.Minutes):00}";
        bool utc = rfc3339.EndsWith('Z') || rfc3339.EndsWith('z');
        return sb.Append(' ').Append(offset).Append(' ').Append(utc ? "UTC" : offset).ToString();
    }

    // ------------------------------------------------------------------ inspect, rm

    static async Task<int> Inspect(Cli c, ParsedArgs p)
    {
        var found = new List<JsonDocument>();
        var errors = new List<string>();
        var q = new Query().AddIf(p.Bool("verbose"), "verbose", "true");
        foreach (var name in p.Positionals)
        {
            try { found.Add(JsonDocument.Parse(await c.Client.GetBytesAsync("/networks/" + Cli.Escape(name), q))); }
            catch (DaemonException e) { errors.Add("Error response from daemon: " + e.Message); }
        }
        if (p.Get("format") is { Length: > 0 } format && format != "json")
        {
            var template = Template.Parse(format.Replace("\\t", "\t").Replace("\\n", "\n"));
            foreach (var doc in found) c.Out.WriteLine(template.Execute(doc.RootElement));
        }
        else
        {
            var raw = "[" + string.Join(",", found.Select(d => d.RootElement.GetRawText())) + "]";
            c.Out.WriteLine(Cli.IndentJson(System.Text.Encoding.UTF8.GetBytes(raw)));
        }
        await c.Out.FlushAsync();
        foreach (var e in errors) c.Err.WriteLine(e);
        return errors.Count > 0 ? 1 : 0;
    }

    static async Task<int> Remove(Cli c, ParsedArgs p)
    {
        int status = 0;
        foreach (var name in p.Positionals)
        {
            try
            {
                await c.Client.SendAndDrainAsync("DELETE", "/networks/" + Cli.Escape(name));
                c.Out.WriteLine(name);
            }
            catch (DaemonException e) when (p.Bool("force") && e.IsNotFound) { }
            catch (DaemonException e)
            {
                await c.Out.FlushAsync();
                c.Err.WriteLine("Error response from daemon: " + e.Message);
                status = 1;
            }
        }
        // docker reports the failed command's status as a last line of its own.
        if (status != 0) c.Err.WriteLine("exit status " + status);
        return status;
    }

    // ------------------------------------------------------------------ connect, disconnect, prune

    static async Task<int> Connect(Cli c, ParsedArgs p)
    {
        foreach (var flag in new[] { "ip", "ip6" })
            if (p.Get(flag) is { Length: > 0 } v && !IPAddress.TryParse(v, out _))
                throw new UsageException($"invalid argument \"{v}\" for \"--{flag}\" flag: invalid string being converted to IP address: {v}");
        var mac = p.Get("mac-address");
        if (mac is { Length: > 0 } && !System.Net.NetworkInformation.PhysicalAddress.TryParse(mac, out _))
            throw new UsageException($"invalid MAC address: \"{mac}\"");
        var driverOpts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var o in Slice(p, "driver-opt"))
        {
            int eq = o.IndexOf('=');
            if (eq <= 0 || o[..eq].Trim().Length == 0) throw new UsageException("invalid key/value pair format in driver options");
            driverOpts[o[..eq].Trim()] = o[(eq + 1)..].Trim();
        }
        var req = new NetworkConnectRequest
        {
            Container = p.Positionals[1],
            EndpointConfig = new EndpointSettings
            {
                IPAMConfig = new EndpointIpamConfig { IPv4Address = p.Get("ip") ?? "", IPv6Address = p.Get("ip6") ?? "" },
                Links = p.All("link").Count > 0 ? p.All("link").ToList() : null,
                Aliases = Slice(p, "alias"),
                DriverOpts = driverOpts,
                MacAddress = mac ?? "",
            },
        };
        await using var resp = await c.Client.SendAsync("POST", $"/networks/{Cli.Escape(p.Positionals[0])}/connect", null,
            JsonSerializer.SerializeToUtf8Bytes(req, ApiJson.Default.NetworkConnectRequest));
        await resp.Body.CopyToAsync(Stream.Null);
        return 0;
    }

    static async Task<int> Disconnect(Cli c, ParsedArgs p)
    {
        var req = new NetworkDisconnectRequest { Container = p.Positionals[1], Force = p.Bool("force") };
        await using var resp = await c.Client.SendAsync("POST", $"/networks/{Cli.Escape(p.Positionals[0])}/disconnect", null,
            JsonSerializer.SerializeToUtf8Bytes(req, ApiJson.Default.NetworkDisconnectRequest));
        await resp.Body.CopyToAsync(Stream.Null);
        return 0;
    }

    static async Task<int> Prune(Cli c, ParsedArgs p)
    {
        if (!p.Bool("force") && !StorageCommands.Confirm(c, "WARNING! This will remove all custom networks not used by at least one container.")) return 0;
        var q = new Query().Add("filters", ContainerCommands.ParseFilters(p.All("filter")));
        var report = await c.Client.PostJsonAsync("/networks/prune", q, null, ApiJson.Default.NetworkPruneResponse);
        if (report.NetworksDeleted is { Count: > 0 } ids)
            c.Out.WriteLine("Deleted Networks:\n" + string.Concat(ids.Select(id => id + "\n")));
        return 0;
    }
}

/// <summary>
/// The natural order docker sorts network names in (fvbommel/sortorder): runs of digits compare
/// as numbers ("net2" before "net10"), everything else byte by byte.
/// </summary>
public static class NaturalOrder
{
    public static int Compare(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            if (char.IsAsciiDigit(a[i]) && char.IsAsciiDigit(b[j]))
            {
                int si = i, sj = j;
                while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                var x = a[si..i].TrimStart('0');
                var y = b[sj..j].TrimStart('0');
                if (x.Length != y.Length) return x.Length.CompareTo(y.Length);
                int cmp = string.CompareOrdinal(x, y);
                if (cmp != 0) return cmp;
                // Equal values: fewer leading zeros first.
                if (i - si != j - sj) return (i - si).CompareTo(j - sj);
                continue;
            }
            if (a[i] != b[j]) return a[i].CompareTo(b[j]);
            i++; j++;
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }
}
