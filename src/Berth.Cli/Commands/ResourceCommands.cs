using System.Globalization;
using System.Text;
using System.Text.Json;
using Berth.Api;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

/// <summary>
/// Cgroup resources: the limit flags shared by <c>run</c>/<c>create</c> and <c>update</c>, and
/// the <c>stats</c> and <c>update</c> commands.
/// </summary>
public static class ResourceCommands
{
    /// <summary>The limits <c>update</c> can change on a live container (docker's own update flags).</summary>
    static readonly Flag[] UpdatableFlags =
    [
        new("memory", 'm'), new("memory-swap"), new("memory-reservation"), new("kernel-memory"), new("cpus"), new("cpu-shares", 'c'),
        new("cpu-period"), new("cpu-quota"), new("cpu-rt-period"), new("cpu-rt-runtime"), new("cpuset-cpus"), new("cpuset-mems"),
        new("blkio-weight"), new("pids-limit"),
    ];

    /// <summary>Every resource flag of <c>run</c> and <c>create</c>.</summary>
    public static readonly Flag[] CreateFlags =
    [
        .. UpdatableFlags, new("memory-swappiness"), new("oom-kill-disable", IsBool: true), new("blkio-weight-device"),
        new("device-read-bps"), new("device-write-bps"), new("device-read-iops"), new("device-write-iops"),
        new("device"), new("device-cgroup-rule"), new("cgroup-parent"),
    ];

    public static IEnumerable<Command> All() =>
    [
        new("stats", "stats [OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics",
            [new("all", 'a', true), new("format"), new("no-stream", IsBool: true), new("no-trunc", IsBool: true)], Stats),
        new("update", "update [OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers",
            [.. UpdatableFlags, new("restart")], Update, MinArgs: 1),
    ];

    /// <summary>Sets the HostConfig resource fields the flags give; malformed values are usage errors.</summary>
    public static void Apply(ParsedArgs p, HostConfig h)
    {
        if (p.Get("memory") is { } m) h.Memory = Bytes(m, "memory");
        if (p.Get("memory-swap") is { } swap) h.MemorySwap = swap == "-1" ? -1 : Bytes(swap, "memory-swap");
        if (p.Get("memory-reservation") is { } res) h.MemoryReservation = Bytes(res, "memory-reservation");
        if (p.Get("memory-swappiness") is { } sw) h.MemorySwappiness = Int(sw, "memory-swappiness");
        if (p.Bool("oom-kill-disable")) h.OomKillDisable = true;
        if (p.Get("cpus") is { } cpus)
        {
            if (!decimal.TryParse(cpus, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0)
                throw new UsageException($"invalid argument \"{cpus}\" for \"--cpus\" flag: failed to parse {cpus} as a rational number");
            h.NanoCpus = (long)(n * 1_000_000_000m);
        }
        if (p.Get("cpu-shares") is { } shares) h.CpuShares = Int(shares, "cpu-shares");
        if (p.Get("cpu-period") is { } period) h.CpuPeriod = Int(period, "cpu-period");
        if (p.Get("cpu-quota") is { } quota) h.CpuQuota = Int(quota, "cpu-quota");
        if (p.Get("cpu-rt-period") is { } rtp) h.CpuRealtimePeriod = Int(rtp, "cpu-rt-period");
        if (p.Get("cpu-rt-runtime") is { } rtr) h.CpuRealtimeRuntime = Int(rtr, "cpu-rt-runtime");
        if (p.Get("cpuset-cpus") is { } cpuset) h.CpusetCpus = cpuset;
        if (p.Get("cpuset-mems") is { } mems) h.CpusetMems = mems;
        if (p.Get("blkio-weight") is { } bw)
        {
            var w = Int(bw, "blkio-weight");
            if (w is not 0 and (< 10 or > 1000)) throw new UsageException($"invalid argument \"{bw}\" for \"--blkio-weight\" flag: range is 10 to 1000");
            h.BlkioWeight = (int)w;
        }
        if (p.Get("pids-limit") is { } pids) h.PidsLimit = Int(pids, "pids-limit");
        foreach (var wd in p.All("blkio-weight-device"))
        {
            var (path, value) = DeviceValue(wd, "blkio-weight-device");
            (h.BlkioWeightDevice ??= []).Add(new WeightDevice { Path = path, Weight = checked((ushort)Int(value, "blkio-weight-device")) });
        }
        h.BlkioDeviceReadBps = Throttles(p, "device-read-bps", bytes: true);
        h.BlkioDeviceWriteBps = Throttles(p, "device-write-bps", bytes: true);
        h.BlkioDeviceReadIOps = Throttles(p, "device-read-iops", bytes: false);
        h.BlkioDeviceWriteIOps = Throttles(p, "device-write-iops", bytes: false);
        foreach (var d in p.All("device")) (h.Devices ??= []).Add(ParseDevice(d));
        if (p.All("device-cgroup-rule").Count > 0) h.DeviceCgroupRules = p.All("device-cgroup-rule").ToList();
        if (p.Get("cgroup-parent") is { } parent) h.CgroupParent = parent;
    }

    static List<ThrottleDevice>? Throttles(ParsedArgs p, string flag, bool bytes)
    {
        var values = p.All(flag);
        if (values.Count == 0) return null;
        return values.Select(v =>
        {
            var (path, rate) = DeviceValue(v, flag);
            return new ThrottleDevice { Path = path, Rate = (ulong)(bytes ? Bytes(rate, flag) : Int(rate, flag)) };
        }).ToList();
    }

    static (string Path, string Value) DeviceValue(string v, string flag)
    {
        var colon = v.LastIndexOf(':');
        if (colon <= 0 || !v.StartsWith("/dev/", StringComparison.Ordinal))
            throw new UsageException($"invalid argument \"{v}\" for \"--{flag}\" flag: bad format, expected /dev/PATH:VALUE");
        return (v[..colon], v[(colon + 1)..]);
    }

    /// <summary><c>--device HOST[:CONTAINER][:PERMISSIONS]</c>.</summary>
    internal static DeviceMapping ParseDevice(string v)
    {
        var parts = v.Split(':');
        string host = parts[0], inside = parts[0], perms = "rwm";
        if (parts.Length == 2)
        {
            if (parts[1].Length > 0 && parts[1].All(ch => ch is 'r' or 'w' or 'm')) perms = parts[1];
            else inside = parts[1];
        }
        else if (parts.Length == 3) { inside = parts[1]; perms = parts[2]; }
        else if (parts.Length > 3) throw new UsageException($"invalid argument \"{v}\" for \"--device\" flag: too many colons");
        if (perms.Length == 0 || perms.Any(ch => ch is not ('r' or 'w' or 'm')))
            throw new UsageException($"invalid argument \"{v}\" for \"--device\" flag: invalid device mode: {perms}");
        return new DeviceMapping { PathOnHost = host, PathInContainer = inside, CgroupPermissions = perms };
    }

    static long Int(string v, string flag) =>
        long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n
            : throw new UsageException($"invalid argument \"{v}\" for \"--{flag}\" flag: strconv.ParseInt: parsing \"{v}\": invalid syntax");

    /// <summary>Docker's RAMInBytes: a number with an optional b/k/m/g/t suffix (binary multiples).</summary>
    internal static long Bytes(string v, string flag)
    {
        var s = v.Trim().ToLowerInvariant().TrimEnd('b');
        long mult = 1;
        if (s.Length > 0 && "kmgtp".Contains(s[^1]))
        {
            mult = s[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, 't' => 1L << 40, _ => 1L << 50 };
            s = s[..^1];
        }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0)
            throw new UsageException($"invalid argument \"{v}\" for \"--{flag}\" flag: invalid size: '{v}'");
        return (long)(n * mult);
    }

    static async Task<int> Update(Cli c, ParsedArgs p)
    {
        var h = new HostConfig { RestartPolicy = new RestartPolicy { Name = "" } };
        Apply(p, h);
        if (p.Get("restart") is { } restart)
        {
            var parts = restart.Split(':', 2);
            h.RestartPolicy = new RestartPolicy { Name = parts[0], MaximumRetryCount = parts.Length == 2 && int.TryParse(parts[1], out var n) ? n : 0 };
        }
        if (!UpdatableFlags.Any(f => p.Has(f.Long)) && !p.Has("restart"))
            throw new UsageException("you must provide one or more flags when using this command");
        var body = JsonSerializer.SerializeToUtf8Bytes(h, ApiJson.Default.HostConfig);
        int status = 0;
        var failures = new List<string>();
        foreach (var name in p.Positionals)
        {
            try
            {
                var reply = await c.Client.PostJsonAsync($"/containers/{Cli.Escape(name)}/update", null, body, ApiJson.Default.ContainerUpdateResponse);
                foreach (var w in reply.Warnings) c.Err.WriteLine(w);
                c.Out.WriteLine(name);
            }
            catch (DaemonException e)
            {
                failures.Add(e.Message);
                status = 1;
            }
        }
        await c.Out.FlushAsync();
        if (failures.Count > 0) c.Err.WriteLine(string.Join('\n', failures));
        return status;
    }

    /// <summary>One container's row: the latest frame and what docker's stats table derives from it.</summary>
    internal sealed record StatsRow(string Id, string Name, double CpuPercent, double Memory, double MemoryLimit, double MemoryPercent,
        double NetRx, double NetTx, double BlockRead, double BlockWrite, ulong Pids);

    internal static StatsRow ToRow(ContainerStatsResponse s)
    {
        double cpu = 0;
        var cpuDelta = (double)s.CpuStats.CpuUsage.TotalUsage - s.PreCpuStats.CpuUsage.TotalUsage;
        var systemDelta = (double)s.CpuStats.SystemCpuUsage - s.PreCpuStats.SystemCpuUsage;
        var online = s.CpuStats.OnlineCpus > 0 ? s.CpuStats.OnlineCpus : (uint)(s.CpuStats.CpuUsage.PercpuUsage?.Count ?? 0);
        if (systemDelta > 0 && cpuDelta > 0 && s.PreCpuStats.SystemCpuUsage > 0) cpu = cpuDelta / systemDelta * online * 100.0;
        // As docker: page cache that can be dropped at once does not count as used.
        var stats = s.MemoryStats.Stats ?? [];
        double mem = s.MemoryStats.Usage;
        if (stats.TryGetValue("total_inactive_file", out var inactive) && inactive < s.MemoryStats.Usage) mem -= inactive;
        else if (stats.TryGetValue("inactive_file", out inactive) && inactive < s.MemoryStats.Usage) mem -= inactive;
        double limit = s.MemoryStats.Limit;
        double rx = 0, tx = 0, read = 0, write = 0;
        foreach (var n in (s.Networks ?? []).Values) { rx += n.RxBytes; tx += n.TxBytes; }
        foreach (var e in s.BlkioStats.IoServiceBytesRecursive ?? [])
        {
            if (e.Op.Equals("read", StringComparison.OrdinalIgnoreCase)) read += e.Value;
            else if (e.Op.Equals("write", StringComparison.OrdinalIgnoreCase)) write += e.Value;
        }
        return new StatsRow(s.Id, s.Name.TrimStart('/'), cpu, mem, limit, limit > 0 ? mem / limit * 100.0 : 0, rx, tx, read, write, s.PidsStats.Current);
    }

    static string Percent(double v) => v.ToString("F2", CultureInfo.InvariantCulture) + "%";

    static Row Fields(StatsRow r, bool trunc) => new()
    {
        ["Container"] = trunc ? ContainerCommands.ShortId(r.Id) : r.Id,
        ["ID"] = trunc ? ContainerCommands.ShortId(r.Id) : r.Id,
        ["Name"] = r.Name,
        ["CPUPerc"] = Percent(r.CpuPercent),
        ["MemUsage"] = Units.BytesSize(r.Memory) + " / " + Units.BytesSize(r.MemoryLimit),
        ["MemPerc"] = Percent(r.MemoryPercent),
        ["NetIO"] = Units.HumanSize(r.NetRx, 3) + " / " + Units.HumanSize(r.NetTx, 3),
        ["BlockIO"] = Units.HumanSize(r.BlockRead, 3) + " / " + Units.HumanSize(r.BlockWrite, 3),
        ["PIDs"] = r.Pids.ToString(CultureInfo.InvariantCulture),
    };

    static readonly Row Headers = new()
    {
        ["Container"] = "CONTAINER", ["ID"] = "CONTAINER ID", ["Name"] = "NAME", ["CPUPerc"] = "CPU %", ["MemUsage"] = "MEM USAGE / LIMIT",
        ["MemPerc"] = "MEM %", ["NetIO"] = "NET I/O", ["BlockIO"] = "BLOCK I/O", ["PIDs"] = "PIDS",
    };

    const string DefaultFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

    static async Task<int> Stats(Cli c, ParsedArgs p)
    {
        var names = p.Positionals.ToList();
        if (names.Count == 0)
        {
            var list = await c.Client.GetJsonAsync("/containers/json", new Query().AddIf(p.Bool("all"), "all", "1"), ApiJson.Default.ListContainerSummary);
            names = list.Select(x => x.Id).ToList();
        }
        var format = p.Get("format") ?? DefaultFormat;
        bool trunc = !p.Bool("no-trunc");
        if (p.Bool("no-stream"))
        {
            var frames = await Task.WhenAll(names.Select(async n =>
            {
                try
                {
                    return (Name: n, Frame: await c.Client.GetJsonAsync($"/containers/{Cli.Escape(n)}/stats", new Query().Add("stream", "false"), ApiJson.Default.ContainerStatsResponse), Error: (string?)null);
                }
                catch (DaemonException e) { return (Name: n, Frame: (ContainerStatsResponse?)null, Error: e.Message); }
            }));
            var errors = frames.Where(f => f.Error is not null).ToList();
            if (errors.Count > 0)
            {
                await c.Out.FlushAsync();
                foreach (var e in errors) c.Err.WriteLine("Error response from daemon: " + e.Error);
                return 1;
            }
            c.WriteFormatted(format, frames.Select(f => Fields(ToRow(f.Frame!), trunc)), Headers);
            return 0;
        }

        // Live: one stream per container, the table redrawn each second from the newest frames.
        var latest = new Dictionary<string, StatsRow>();
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        var readers = names.Select(async n =>
        {
            try
            {
                await using var resp = await c.Client.SendAsync("GET", $"/containers/{Cli.Escape(n)}/stats", new Query().Add("stream", "true"), ct: stop.Token);
                var reader = new StreamReader(resp.Body, Encoding.UTF8);
                while (await reader.ReadLineAsync(stop.Token) is { } line)
                {
                    if (line.Length == 0) continue;
                    var frame = JsonSerializer.Deserialize(line, ApiJson.Default.ContainerStatsResponse)!;
                    lock (latest) latest[n] = ToRow(frame);
                }
            }
            catch (OperationCanceledException) { }
            catch (DaemonException) { }
            catch (IOException) { }
            lock (latest) latest.Remove(n);
        }).ToList();
        while (!stop.IsCancellationRequested)
        {
            try { await Task.Delay(1000, stop.Token); } catch (OperationCanceledException) { break; }
            List<StatsRow> rows;
            lock (latest) rows = names.Where(latest.ContainsKey).Select(n => latest[n]).ToList();
            if (c.StdoutIsTerminal) c.Out.Write("\x1b[2J\x1b[H");
            c.WriteFormatted(format, rows.Select(r => Fields(r, trunc)), Headers);
            await c.Out.FlushAsync();
            if (readers.All(r => r.IsCompleted)) break;
        }
        stop.Cancel();
        await Task.WhenAll(readers);
        return 0;
    }
}
