using System.Text.Json;
using Berth.Runtime.Cgroups;

namespace Berth.Runc;

// events: runc's stream of {"type","id","data"} objects, one per line: "stats" with the cgroup's
// counters (runc's types.Stats field names), and "oom" when the kernel's OOM killer struck.
static partial class Cli
{
    static int Events(Args a)
    {
        var statsOnce = a.Switch("--stats");
        var interval = ParseDuration(a.Value("--interval") ?? "5s");
        var id = a.Id();
        a.NoMore();
        var cgroup = RunningCgroup(id, out _);
        using var output = Console.OpenStandardOutput();
        if (statsOnce)
        {
            WriteEvent(output, "stats", id, cgroup.Stats());
            return 0;
        }
        var oomKills = cgroup.Stats().Memory.OomKills;
        while (store.Load(id) is { Status: not "stopped" })
        {
            CgroupStats stats;
            try { stats = cgroup.Stats(); }
            catch (Exception e) when (e is IOException or Berth.Runtime.RuntimeException) { break; } // the cgroup went away with the container
            if (stats.Memory.OomKills > oomKills) WriteEvent(output, "oom", id, null);
            oomKills = stats.Memory.OomKills;
            WriteEvent(output, "stats", id, stats);
            Thread.Sleep(interval);
        }
        return 0;
    }

    /// <summary>A Go duration as runc's --interval takes it: 500ms, 5s, 1m, 1h30m.</summary>
    static TimeSpan ParseDuration(string text)
    {
        var total = TimeSpan.Zero;
        var rest = text;
        while (rest.Length > 0)
        {
            var digits = 0;
            while (digits < rest.Length && (char.IsAsciiDigit(rest[digits]) || rest[digits] == '.')) digits++;
            var unitLength = 0;
            while (digits + unitLength < rest.Length && char.IsAsciiLetter(rest[digits + unitLength])) unitLength++;
            if (digits == 0 || !double.TryParse(rest[..digits], System.Globalization.CultureInfo.InvariantCulture, out var n))
                throw new UsageException($"invalid duration \"{text}\"");
            total += rest.Substring(digits, unitLength) switch
            {
                "ns" => TimeSpan.FromTicks((long)(n / 100)), "us" or "µs" => TimeSpan.FromMicroseconds(n), "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n), "m" => TimeSpan.FromMinutes(n), "h" => TimeSpan.FromHours(n),
                _ => throw new UsageException($"invalid duration \"{text}\": unknown unit"),
            };
            rest = rest[(digits + unitLength)..];
        }
        return total > TimeSpan.Zero ? total : throw new UsageException("duration interval must be greater than 0");
    }

    static void WriteEvent(Stream output, string type, string id, CgroupStats? s)
    {
        using (var w = new Utf8JsonWriter(output))
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteString("id", id);
            if (s is not null)
            {
                w.WriteStartObject("data");
                w.WriteStartObject("cpu");
                w.WriteStartObject("usage");
                w.WriteNumber("total", s.Cpu.TotalUsage);
                w.WriteStartArray("percpu");
                foreach (var c in s.Cpu.PerCpuUsage) w.WriteNumberValue(c);
                w.WriteEndArray();
                w.WriteNumber("kernel", s.Cpu.KernelUsage);
                w.WriteNumber("user", s.Cpu.UserUsage);
                w.WriteEndObject();
                w.WriteStartObject("throttling");
                w.WriteNumber("periods", s.Cpu.ThrottlingPeriods);
                w.WriteNumber("throttledPeriods", s.Cpu.ThrottledPeriods);
                w.WriteNumber("throttledTime", s.Cpu.ThrottledTime);
                w.WriteEndObject();
                w.WriteEndObject();

                w.WriteStartObject("memory");
                w.WriteNumber("cache", s.Memory.Cache);
                WriteUsage(w, "usage", s.Memory.Usage, s.Memory.MaxUsage, s.Memory.Limit, s.Memory.Failcnt);
                WriteUsage(w, "swap", s.Memory.SwapUsage, 0, s.Memory.SwapLimit, 0);
                w.WriteStartObject("raw");
                foreach (var (k, v) in s.Memory.Raw) w.WriteNumber(k, v);
                w.WriteEndObject();
                w.WriteEndObject();

                w.WriteStartObject("pids");
                w.WriteNumber("current", s.Pids.Current);
                w.WriteNumber("limit", s.Pids.Limit);
                w.WriteEndObject();

                w.WriteStartObject("blkio");
                Blkio(w, "ioServiceBytesRecursive", s.Blkio.IoServiceBytesRecursive);
                Blkio(w, "ioServicedRecursive", s.Blkio.IoServicedRecursive);
                w.WriteEndObject();

                w.WriteStartObject("hugetlb");
                foreach (var (size, h) in s.Hugetlb)
                {
                    w.WriteStartObject(size);
                    w.WriteNumber("usage", h.Usage);
                    w.WriteNumber("max", h.MaxUsage);
                    w.WriteNumber("failcnt", h.Failcnt);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        output.WriteByte((byte)'\n');
        output.Flush();
    }

    static void WriteUsage(Utf8JsonWriter w, string name, ulong usage, ulong max, ulong limit, ulong failcnt)
    {
        w.WriteStartObject(name);
        w.WriteNumber("limit", limit);
        w.WriteNumber("usage", usage);
        w.WriteNumber("max", max);
        w.WriteNumber("failcnt", failcnt);
        w.WriteEndObject();
    }

    static void Blkio(Utf8JsonWriter w, string name, List<BlkioEntry> entries)
    {
        w.WriteStartArray(name);
        foreach (var e in entries)
        {
            w.WriteStartObject();
            w.WriteNumber("major", e.Major);
            w.WriteNumber("minor", e.Minor);
            w.WriteString("op", e.Op);
            w.WriteNumber("value", e.Value);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
