using System.Globalization;
using System.Text.Json;
using Berth.Api;
using Berth.Cli.Formatting;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

/// <summary>Container commands other than run/create/start/attach (see <see cref="RunCommands"/>).</summary>
public static class ContainerCommands
{
    public static IEnumerable<Command> All() => new Command[]
    {
        new("ps", "ps [OPTIONS]", "List containers",
            new Flag[] { new("all", 'a', true), new("quiet", 'q', true), new("last", 'n'), new("latest", 'l', true), new("no-trunc", IsBool: true), new("filter", 'f'), new("format"), new("size", 's', true) },
            Ps, MaxArgs: 0, Sequential: true),
        new("stop", "stop [OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
            new Flag[] { new("time", 't'), new("timeout"), new("signal", 's') }, (c, p) => StopOrRestart(c, p, "stop"), MinArgs: 1),
        new("restart", "restart [OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
            new Flag[] { new("time", 't'), new("timeout"), new("signal", 's') }, (c, p) => StopOrRestart(c, p, "restart"), MinArgs: 1),
        new("kill", "kill [OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers",
            new Flag[] { new("signal", 's') },
            (c, p) => c.ForEachAsync(p.Positionals, n => c.Client.SendAndDrainAsync("POST", $"/containers/{Cli.Escape(n)}/kill", new Query().Add("signal", p.Get("signal")))), MinArgs: 1),
        new("rm", "rm [OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
            new Flag[] { new("force", 'f', true), new("volumes", 'v', true), new("link", 'l', true) },
            (c, p) => c.ForEachAsync(p.Positionals, n => c.Client.SendAndDrainAsync("DELETE", "/containers/" + Cli.Escape(n),
                new Query().AddIf(p.Bool("volumes"), "v", "1").AddIf(p.Bool("link"), "link", "1").AddIf(p.Bool("force"), "force", "1"))), MinArgs: 1, Sequential: true),
        new("wait", "wait CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes",
            Array.Empty<Flag>(), Wait, MinArgs: 1),
        new("pause", "pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers",
            Array.Empty<Flag>(), (c, p) => c.ForEachAsync(p.Positionals, n => c.Client.SendAndDrainAsync("POST", $"/containers/{Cli.Escape(n)}/pause")), MinArgs: 1),
        new("unpause", "unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers",
            Array.Empty<Flag>(), (c, p) => c.ForEachAsync(p.Positionals, n => c.Client.SendAndDrainAsync("POST", $"/containers/{Cli.Escape(n)}/unpause")), MinArgs: 1),
        new("rename", "rename CONTAINER NEW_NAME", "Rename a container", Array.Empty<Flag>(),
            async (c, p) =>
            {
                await c.Client.SendAndDrainAsync("POST", $"/containers/{Cli.Escape(p.Positionals[0])}/rename", new Query().Add("name", p.Positionals[1]));
                return 0;
            }, MinArgs: 2, MaxArgs: 2),
        new("top", "top CONTAINER [ps OPTIONS]", "Display the running processes of a container", Array.Empty<Flag>(), Top, MinArgs: 1, StopAtFirstPositional: true),
        new("port", "port CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container", Array.Empty<Flag>(), Port, MinArgs: 1, MaxArgs: 2),
        new("logs", "logs [OPTIONS] CONTAINER", "Fetch the logs of a container",
            new Flag[] { new("follow", 'f', true), new("timestamps", 't', true), new("tail", 'n'), new("since"), new("until"), new("details", IsBool: true) },
            Logs, MinArgs: 1, MaxArgs: 1),
        new("inspect", "inspect [OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on Docker objects",
            new Flag[] { new("format", 'f'), new("type"), new("size", 's', true) }, Inspect, MinArgs: 1),
    };

    static Task<int> StopOrRestart(Cli c, ParsedArgs p, string action)
    {
        var q = new Query().Add("signal", p.Get("signal")).Add("t", p.Get("time") ?? p.Get("timeout"));
        return c.ForEachAsync(p.Positionals, n => c.Client.SendAndDrainAsync("POST", $"/containers/{Cli.Escape(n)}/{action}", q));
    }

    static async Task<int> Wait(Cli c, ParsedArgs p)
    {
        int status = 0;
        foreach (var name in p.Positionals)
        {
            try
            {
                var r = await c.Client.PostJsonAsync($"/containers/{Cli.Escape(name)}/wait", null, null, ReplyJson.ReadWaitResponse);
                c.Out.WriteLine(r.StatusCode.ToString(CultureInfo.InvariantCulture));
            }
            catch (DaemonException e)
            {
                await c.Out.FlushAsync();
                c.Err.WriteLine("Error response from daemon: " + e.Message);
                status = 1;
            }
        }
        return status;
    }

    // ------------------------------------------------------------------ ps

    static readonly Row PsHeaders = new()
    {
        ["ID"] = "CONTAINER ID", ["Image"] = "IMAGE", ["Command"] = "COMMAND", ["CreatedAt"] = "CREATED AT",
        ["RunningFor"] = "CREATED", ["Ports"] = "PORTS", ["State"] = "STATE", ["Status"] = "STATUS", ["Size"] = "SIZE",
        ["Names"] = "NAMES", ["Labels"] = "LABELS", ["Mounts"] = "MOUNTS", ["Networks"] = "NETWORKS",
        ["LocalVolumes"] = "LOCAL VOLUMES", ["Platform"] = "PLATFORM", ["Label"] = Row.LabelHeader,
    };

    static async Task<int> Ps(Cli c, ParsedArgs p)
    {
        bool trunc = !p.Bool("no-trunc");
        var format = p.Get("format") ?? (p.Bool("quiet") ? "{{.ID}}" : null);
        if (format is null or "table")
            format = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}" + (p.Bool("size") ? "\t{{.Size}}" : "");
        else if (format == "json") format = "{{json .}}";
        bool size = p.Bool("size") || (format.Contains(".Size", StringComparison.Ordinal) && !p.Bool("quiet"));
        int limit = p.Bool("latest") ? 1 : p.Get("last") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : -1;
        var q = new Query()
            .AddIf(p.Bool("all") || limit > 0, "all", "1")
            .AddIf(limit > 0, "limit", limit.ToString(CultureInfo.InvariantCulture))
            .AddIf(size, "size", "1")
            .Add("filters", ParseFilters(p.All("filter")));
        var list = await c.Client.GetJsonAsync("/containers/json", q, ApiJson.Default.ListContainerSummary);
        var now = DateTimeOffset.UtcNow;
        c.WriteFormatted(format, list.Select(s => PsRow(s, trunc, now)), PsHeaders);
        return 0;
    }

    /// <summary>Repeated <c>--filter key=value</c> flags as the API's filters JSON; null when there are none.</summary>
    public static string? ParseFilters(IReadOnlyList<string> flags)
    {
        if (flags.Count == 0) return null;
        var f = new Filters();
        foreach (var s in flags)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new UsageException($"invalid argument \"{s}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)");
            f.Add(s[..eq].Trim().ToLowerInvariant(), s[(eq + 1)..].Trim());
        }
        return f.ToJson();
    }

    public static Row PsRow(ContainerSummary s, bool trunc, DateTimeOffset now)
    {
        var image = s.Image;
        if (trunc)
        {
            if (image.StartsWith("sha256:", StringComparison.Ordinal)) image = ShortId(image);
            else if (image.IndexOf('@') is > 0 and var at) image = image[..at];
        }
        var names = s.Names.Select(n => n.TrimStart('/')).Where(n => !trunc || !n.Contains('/')).ToList();
        if (trunc && names.Count > 1) names = names.Take(1).ToList();
        var created = DateTimeOffset.FromUnixTimeSeconds(s.Created);
        var labels = s.Labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value);
        string size = Units.HumanSize(s.SizeRw ?? 0, 3);
        if (s.SizeRootFs is > 0) size += $" (virtual {Units.HumanSize(s.SizeRootFs.Value, 3)})";
        var mounts = s.Mounts.Select(m => m.Name is { Length: > 0 } name ? (trunc && name.Length > 15 ? Ellipsis(name, 15) : name) : m.Source);
        return new Row
        {
            ["ID"] = trunc ? ShortId(s.Id) : s.Id,
            ["Image"] = image,
            ["Command"] = GoQuote(trunc ? Ellipsis(s.Command, 20) : s.Command),
            ["CreatedAt"] = GoTimeString(created),
            ["RunningFor"] = Units.HumanDuration(now - created) + " ago",
            ["Ports"] = FormatPorts(s.Ports),
            ["State"] = s.State,
            ["Status"] = s.Status,
            ["Size"] = size,
            ["Names"] = string.Join(",", names),
            ["Labels"] = string.Join(",", labels),
            ["Mounts"] = string.Join(",", mounts),
            ["Networks"] = string.Join(",", s.NetworkSettings.Networks.Keys.Order(StringComparer.Ordinal)),
            ["LocalVolumes"] = s.Mounts.Count(m => m.Driver == "local").ToString(CultureInfo.InvariantCulture),
            ["Platform"] = null,
            ["Label"] = (RowMethod)(args => args.Count == 1 && s.Labels.TryGetValue(GoJson.Print(args[0]), out var v) ? v : ""),
        };
    }

    public static string ShortId(string id)
    {
        var hex = id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..] : id;
        return hex.Length > 12 ? hex[..12] : hex;
    }

    /// <summary>Docker's formatter.Ellipsis: at most <paramref name="max"/> characters, the last one "…" when cut.</summary>
    public static string Ellipsis(string s, int max)
    {
        if (s.Length <= max) return s;
        return max <= 1 ? s[..max] : s[..(max - 1)] + "…";
    }

    /// <summary>Go's strconv.Quote for the printable text docker puts in the COMMAND column.</summary>
    public static string GoQuote(string s)
    {
        var sb = new System.Text.StringBuilder("\"");
        foreach (var ch in s)
        {
            switch (ch)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                case < ' ' or '\x7f': sb.Append("\\x").Append(((int)ch).ToString("x2", CultureInfo.InvariantCulture)); break;
                default: sb.Append(ch); break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>Go's time.Time.String() in local time, e.g. "2024-05-01 10:00:00 +0000 UTC".</summary>
    public static string GoTimeString(DateTimeOffset t)
    {
        var local = t.ToLocalTime();
        var off = local.Offset;
        var sign = off < TimeSpan.Zero ? "-" : "+";
        var offset = $"{sign}{Math.Abs(off.Hours):00}{Math.Abs(off.Minutes):00}";
        var zone = off == TimeSpan.Zero ? "UTC" : offset;
        return local.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " " + offset + " " + zone;
    }

    static string FormatPorts(List<PortSummary> ports) =>
        string.Join(", ", ports
            .OrderBy(pt => pt.PublicPort == 0 ? 1 : 0).ThenBy(pt => pt.PrivatePort).ThenBy(pt => pt.Type, StringComparer.Ordinal)
            .Select(pt => pt.PublicPort != 0
                ? $"{(pt.IP is { Length: > 0 } ip ? (ip.Contains(':') ? "[" + ip + "]" : ip) + ":" : "")}{pt.PublicPort}->{pt.PrivatePort}/{pt.Type}"
                : $"{pt.PrivatePort}/{pt.Type}")
            .Distinct());

    // ------------------------------------------------------------------ top, port, logs

    static async Task<int> Top(Cli c, ParsedArgs p)
    {
        var q = new Query().Add("ps_args", p.Positionals.Count > 1 ? string.Join(' ', p.Positionals.Skip(1)) : null);
        using var doc = JsonDocument.Parse(await c.Client.GetBytesAsync($"/containers/{Cli.Escape(p.Positionals[0])}/top", q));
        var sb = new System.Text.StringBuilder();
        sb.Append(string.Join('\t', doc.RootElement.GetProperty("Titles").EnumerateArray().Select(t => t.GetString()))).Append('\n');
        if (doc.RootElement.TryGetProperty("Processes", out var procs) && procs.ValueKind == JsonValueKind.Array)
            foreach (var row in procs.EnumerateArray())
                sb.Append(string.Join('\t', row.EnumerateArray().Select(t => t.GetString()))).Append('\n');
        c.Out.Write(TabWriter.Format(sb.ToString()));
        return 0;
    }

    static async Task<int> Port(Cli c, ParsedArgs p)
    {
        var name = p.Positionals[0];
        var info = await c.Client.GetJsonAsync($"/containers/{Cli.Escape(name)}/json", null, ApiJson.Default.ContainerInspect);
        if (p.Positionals.Count == 2)
        {
            var want = p.Positionals[1].Contains('/') ? p.Positionals[1] : p.Positionals[1] + "/tcp";
            if (info.NetworkSettings.Ports.TryGetValue(want, out var bindings) && bindings is { Count: > 0 })
            {
                foreach (var b in bindings) c.Out.WriteLine(HostPort(b));
                return 0;
            }
            await c.Out.FlushAsync();
            c.Err.WriteLine($"Error: No public port '{p.Positionals[1]}' published for {name}");
            return 1;
        }
        foreach (var (port, bindings) in info.NetworkSettings.Ports.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            foreach (var b in bindings ?? new List<PortBinding>())
                c.Out.WriteLine($"{port} -> {HostPort(b)}");
        return 0;
    }

    static string HostPort(PortBinding b) =>
        (b.HostIp.Contains(':') ? "[" + b.HostIp + "]" : b.HostIp) + ":" + b.HostPort;

    static async Task<int> Logs(Cli c, ParsedArgs p)
    {
        var name = p.Positionals[0];
        var info = await c.Client.GetJsonAsync($"/containers/{Cli.Escape(name)}/json", null, ApiJson.Default.ContainerInspect);
        var now = DateTimeOffset.UtcNow;
        var q = new Query().Add("stdout", "1").Add("stderr", "1")
            .Add("since", p.Get("since") is { } since ? TimeArg.ToApi(since, now) : null)
            .Add("until", p.Get("until") is { } until ? TimeArg.ToApi(until, now) : null)
            .AddIf(p.Bool("timestamps"), "timestamps", "1")
            .AddIf(p.Bool("follow"), "follow", "1")
            .Add("tail", p.Get("tail") ?? "all")
            .AddIf(p.Bool("details"), "details", "1");
        await c.Out.FlushAsync();
        await using var resp = await c.Client.SendAsync("GET", $"/containers/{Cli.Escape(name)}/logs", q);
        if (info.Config.Tty) await resp.Body.CopyToAsync(c.StdoutStream);
        else await StdStream.DemuxAsync(resp.Body, c.StdoutStream, c.StderrStream);
        return 0;
    }

    // ------------------------------------------------------------------ inspect

    static async Task<int> Inspect(Cli c, ParsedArgs p)
    {
        var type = p.Get("type") ?? "";
        if (type is not ("" or "container" or "image"))
        {
            await c.Out.FlushAsync();
            c.Err.WriteLine($"\"{type}\" is not a valid value for --type");
            return 1;
        }
        var found = new List<JsonDocument>();
        var errors = new List<string>();
        foreach (var name in p.Positionals)
        {
            var doc = await InspectOneAsync(c, name, type, p.Bool("size"), errors);
            if (doc is not null) found.Add(doc);
        }
        if (p.Get("format") is { } format && format != "json")
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

    static async Task<JsonDocument?> InspectOneAsync(Cli c, string name, string type, bool size, List<string> errors)
    {
        if (type is "" or "container")
        {
            try { return JsonDocument.Parse(await c.Client.GetBytesAsync($"/containers/{Cli.Escape(name)}/json", new Query().AddIf(size, "size", "1"))); }
            catch (DaemonException e) when (e.IsNotFound)
            {
                if (type == "container") { errors.Add("Error: No such container: " + name); return null; }
            }
        }
        try { return JsonDocument.Parse(await c.Client.GetBytesAsync($"/images/{name}/json")); }
        catch (DaemonException e) when (e.IsNotFound)
        {
            errors.Add(type == "image" ? "Error: No such image: " + name : "Error: No such object: " + name);
            return null;
        }
    }
}

/// <summary>The <c>--since</c>/<c>--until</c> forms docker accepts: Go durations ("10m", "1h30m"), RFC 3339 times or unix seconds.</summary>
public static class TimeArg
{
    public static string ToApi(string value, DateTimeOffset now)
    {
        if (TryParseDuration(value, out var d))
            return UnixString(now - d);
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var t) && value.Contains('-'))
            return UnixString(t);
        return value;
    }

    static string UnixString(DateTimeOffset t)
    {
        long ticks = t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long secs = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem);
        return $"{secs}.{rem * 100:000000000}";
    }

    public static bool TryParseDuration(string s, out TimeSpan d)
    {
        d = TimeSpan.Zero;
        if (s.Length == 0) return false;
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
            if (start == i || !double.TryParse(s[start..i], NumberStyles.Float, CultureInfo.InvariantCulture, out var n)) return false;
            int unitStart = i;
            while (i < s.Length && char.IsLetter(s[i])) i++;
            double factor = s[unitStart..i] switch
            {
                "ns" => 1e-9, "us" or "µs" => 1e-6, "ms" => 1e-3, "s" => 1, "m" => 60, "h" => 3600,
                _ => double.NaN,
            };
            if (double.IsNaN(factor)) return false;
            d += TimeSpan.FromSeconds(n * factor);
        }
        return true;
    }
}
