using System.Text.Json;
using Berth.Api;
using Berth.Daemon.Containers;
using Berth.Daemon.Engine;
using Berth.Graph;

namespace Berth.Daemon.SystemJobs;

/// <summary>The system jobs: ping, version, info and the event stream.</summary>
public sealed class SystemService(DaemonOptions options, ContainerStore containers, ImageStore images, EventBus events, string daemonId)
{
    static readonly string KernelVersion = ReadFirstLine("/proc/sys/kernel/osrelease");

    public async Task PingAsync(Job job)
    {
        // HEAD /_ping carries the same headers and no body; docker-py's GET expects "OK".
        var ctx = job.Stdout;
        await ctx.TextAsync(200, "OK");
    }

    public async Task VersionAsync(Job job)
    {
        var details = new Dictionary<string, string>
        {
            ["ApiVersion"] = ApiVersions.Max,
            ["Arch"] = "amd64",
            ["BuildTime"] = BuildTime,
            ["Experimental"] = "false",
            ["GitCommit"] = GitCommit,
            ["GoVersion"] = "dotnet" + Environment.Version,
            ["KernelVersion"] = KernelVersion,
            ["MinAPIVersion"] = ApiVersions.Min,
            ["Os"] = "linux",
        };
        var v = new SystemVersion
        {
            Platform = new VersionPlatform { Name = "Berth Engine" },
            Components =
            [
                new VersionComponent { Name = "Engine", Version = ApiVersions.EngineVersion, Details = details },
                new VersionComponent { Name = "berth", Version = ApiVersions.BerthVersion, Details = new() { ["GitCommit"] = GitCommit } },
                new VersionComponent { Name = "berth-runc", Version = ApiVersions.BerthVersion, Details = new() { ["GitCommit"] = GitCommit } },
            ],
            Version = ApiVersions.EngineVersion,
            ApiVersion = ApiVersions.Max,
            MinAPIVersion = ApiVersions.Min,
            GitCommit = GitCommit,
            GoVersion = "dotnet" + Environment.Version,
            KernelVersion = KernelVersion,
            BuildTime = BuildTime,
        };
        await job.Stdout.JsonAsync(200, v, ApiJson.Default.SystemVersion);
    }

    static string GitCommit => typeof(SystemService).Assembly
        .GetCustomAttributes(typeof(global::System.Reflection.AssemblyInformationalVersionAttribute), false)
        .OfType<global::System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+').ElementAtOrDefault(1) ?? "unknown";

    static readonly string BuildTime = Timestamps.Rfc3339Nano(File.GetLastWriteTimeUtc(Environment.ProcessPath ?? AppContext.BaseDirectory));

    public async Task InfoAsync(Job job)
    {
        var all = containers.All;
        var memTotal = ReadMemTotal();
        var info = new SystemInfo
        {
            ID = daemonId,
            Containers = all.Count,
            ContainersRunning = all.Count(c => c.State.Status == "running"),
            ContainersPaused = all.Count(c => c.State.Status == "paused"),
            ContainersStopped = all.Count(c => !c.IsRunning),
            Images = images.List().Count,
            Driver = images.Driver.Name,
            DriverStatus = images.Driver.Status.Select(kv => new List<string> { kv.Key, kv.Value }).ToList(),
            Plugins = new PluginsInfo { Volume = ["local"], Network = ["bridge", "host", "null"], Log = ["json-file"] },
            MemoryLimit = true,
            SwapLimit = Directory.Exists("/sys/fs/cgroup/memory"),
            CpuCfsPeriod = true,
            CpuCfsQuota = true,
            CPUShares = true,
            CPUSet = true,
            PidsLimit = true,
            IPv4Forwarding = ReadFirstLine("/proc/sys/net/ipv4/ip_forward") == "1",
            Debug = options.LogLevel <= Microsoft.Extensions.Logging.LogLevel.Debug,
            NFd = CountFds(),
            NGoroutines = System.Diagnostics.Process.GetCurrentProcess().Threads.Count,
            SystemTime = Timestamps.Rfc3339Nano(DateTimeOffset.Now),
            CgroupVersion = File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1",
            NEventsListener = events.Listeners,
            KernelVersion = KernelVersion,
            OperatingSystem = OsName(),
            OSVersion = OsField("VERSION_ID"),
            NCPU = Environment.ProcessorCount,
            MemTotal = memTotal,
            DockerRootDir = options.DataRoot,
            HttpProxy = Environment.GetEnvironmentVariable("HTTP_PROXY") ?? "",
            HttpsProxy = Environment.GetEnvironmentVariable("HTTPS_PROXY") ?? "",
            NoProxy = Environment.GetEnvironmentVariable("NO_PROXY") ?? "",
            Name = Environment.MachineName,
            ServerVersion = ApiVersions.EngineVersion,
            Runtimes = options.Runtimes.ToDictionary(kv => kv.Key, kv => new RuntimeInfo { Path = kv.Value }),
            DefaultRuntime = options.DefaultRuntime,
            LiveRestoreEnabled = true,
            SecurityOptions = ["name=seccomp,profile=builtin", "name=cgroupns"],
        };
        info.Runtimes["native"] = new RuntimeInfo { Path = Path.Combine(options.BinDir, "berth-runc") };
        if (options.Bridge == "none") info.Warnings = ["WARNING: networking is disabled (--bridge none)"];
        if (images.Problems.Count > 0)
            info.Warnings = [.. info.Warnings ?? [], .. images.Problems.Select(p => "WARNING: image store: " + p)];
        await job.Stdout.JsonAsync(200, info, ApiJson.Default.SystemInfo);
    }

    public async Task EventsAsync(Job job)
    {
        DateTimeOffset? since, until;
        try
        {
            since = Timestamps.ParseQueryTime(job.Env.Get("since"));
            until = Timestamps.ParseQueryTime(job.Env.Get("until"));
        }
        catch (FormatException e) { throw ApiException.BadRequest(e.Message); }
        var filters = Filters.Parse(job.Env.Get("filters"));
        filters.Validate("container", "event", "image", "label", "type", "daemon", "network", "volume", "plugin", "node", "service", "secret", "config", "scope");
        var (past, live) = events.Subscribe(since);
        try
        {
            var body = await job.Stdout.StreamAsync("application/json");
            foreach (var e in past)
                if (Matches(e, filters) && (until is null || e.Time <= until.Value.ToUnixTimeSeconds())) await WriteAsync(body, e, job.Cancelled);
            if (until is { } u && u <= DateTimeOffset.UtcNow) return;
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(job.Cancelled);
            if (until is { } end) cts.CancelAfter(end - DateTimeOffset.UtcNow);
            try
            {
                await foreach (var e in live.Reader.ReadAllAsync(cts.Token))
                    if (Matches(e, filters)) await WriteAsync(body, e, cts.Token);
            }
            catch (OperationCanceledException) { }
        }
        finally
        {
            events.Unsubscribe(live);
        }
    }

    static async Task WriteAsync(Stream body, EventMessage e, CancellationToken ct)
    {
        await JsonSerializer.SerializeAsync(body, e, ApiJson.Default.EventMessage, ct);
        await body.WriteAsync("\n"u8.ToArray(), ct);
        await body.FlushAsync(ct);
    }

    static bool Matches(EventMessage e, Filters f) =>
        f.Match("type", v => v == e.Type)
        && f.Match("event", v => v == e.Action || e.Action.StartsWith(v + ":", StringComparison.Ordinal))
        && f.Match("container", v => e.Type == "container" && (e.Actor.ID.StartsWith(v, StringComparison.Ordinal) || e.Actor.Attributes.GetValueOrDefault("name") == v))
        && f.Match("image", v => e.Actor.Attributes.GetValueOrDefault("image") == v || e.Actor.Attributes.GetValueOrDefault("name") == v || e.Actor.ID == v)
        && f.Match("label", v =>
        {
            var kv = v.Split('=', 2);
            return e.Actor.Attributes.TryGetValue(kv[0], out var val) && (kv.Length == 1 || val == kv[1]);
        });

    static string ReadFirstLine(string path)
    {
        try { return File.ReadLines(path).FirstOrDefault()?.Trim() ?? ""; }
        catch (IOException) { return ""; }
    }

    static long ReadMemTotal()
    {
        var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        var kb = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
        return long.TryParse(kb, out var k) ? k * 1024 : 0;
    }

    static int CountFds()
    {
        try { return Directory.GetFiles("/proc/self/fd").Length; }
        catch (IOException) { return 0; }
    }

    static string OsField(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/os-release"))
                if (line.StartsWith(key + "=", StringComparison.Ordinal)) return line[(key.Length + 1)..].Trim('"');
        }
        catch (IOException) { }
        return "";
    }

    static string OsName() => OsField("PRETTY_NAME") is { Length: > 0 } n ? n : "Linux";
}
