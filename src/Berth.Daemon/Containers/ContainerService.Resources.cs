using System.Diagnostics;
using System.Text.Json;
using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Runtime;
using Berth.Runtime.Cgroups;

namespace Berth.Daemon.Containers;

// What berthd does with a running container's cgroup: pause/unpause (the freezer), top, stats
// and update. The cgroup is found from the container's record (the same path the spec gave the
// runtime), so these work the same after berthd restarts.
public sealed partial class ContainerService
{
    static ICgroupManager CgroupOf(Container c) => CgroupManager.ForPath(SpecBuilder.CgroupsPath(c.Record));

    static ApiException NotRunning(Container c) => ApiException.Conflict($"Container {c.Id} is not running");

    public async Task PauseJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        await c.Lock.WaitAsync();
        try
        {
            if (!c.IsRunning || c.Shim is null) throw NotRunning(c);
            if (c.State.Status == "paused") throw ApiException.Conflict($"Container {c.Id} is already paused");
            try { CgroupOf(c).Freeze(true); }
            catch (RuntimeException e) { throw new ApiException(500, $"Cannot pause container {c.Id}: {e.Message}"); }
            lock (c.Record) c.State.Status = "paused";
            _store.Save(c);
        }
        finally { c.Lock.Release(); }
        Publish(c, "pause");
        await job.Stdout.EmptyAsync(204);
    }

    public async Task UnpauseJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        await c.Lock.WaitAsync();
        try
        {
            if (c.State.Status != "paused") throw ApiException.Conflict($"Container {c.Id} is not paused");
            Thaw(c);
        }
        finally { c.Lock.Release(); }
        Publish(c, "unpause");
        await job.Stdout.EmptyAsync(204);
    }

    /// <summary>Thaws a paused container, so a signal just sent (stop, kill, rm -f) is acted on.</summary>
    void Thaw(Container c)
    {
        if (c.State.Status != "paused") return;
        try { CgroupOf(c).Freeze(false); }
        catch (RuntimeException e) { throw new ApiException(500, $"Cannot unpause container {c.Id}: {e.Message}"); }
        lock (c.Record) if (c.State.Status == "paused") c.State.Status = "running";
        _store.Save(c);
    }

    /// <summary>
    /// GET /containers/{id}/top: the host's <c>ps</c> with the client's arguments (default -ef),
    /// keeping the rows whose PID is in the container's cgroup, as dockerd does.
    /// </summary>
    public async Task TopJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        if (!c.IsRunning) throw NotRunning(c);
        var pids = CgroupOf(c).Processes().ToHashSet();
        var args = (job.Env.Get("ps_args") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var psi = new ProcessStartInfo("ps") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Length > 0 ? args : ["-ef"]) psi.ArgumentList.Add(a);
        string output, error;
        int exitCode;
        try
        {
            using var ps = Process.Start(psi)!;
            var stdout = ps.StandardOutput.ReadToEndAsync(job.Cancelled);
            error = await ps.StandardError.ReadToEndAsync(job.Cancelled);
            output = await stdout;
            await ps.WaitForExitAsync(job.Cancelled);
            exitCode = ps.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e) { throw new ApiException(500, "Error running ps: " + e.Message); }
        if (exitCode != 0) throw new ApiException(500, $"Error running ps: exit status {exitCode}: {error.Trim()}");
        await job.Stdout.JsonAsync(200, ParsePs(output, pids), ApiJson.Default.ContainerTopResponse);
        Publish(c, "top");
    }

    internal static ContainerTopResponse ParsePs(string output, IReadOnlySet<int> pids)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0) throw new ApiException(500, "Error running ps: no output");
        var titles = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        var pidColumn = titles.IndexOf("PID");
        if (pidColumn < 0) throw new ApiException(500, "Couldn't find PID field in ps output");
        var top = new ContainerTopResponse { Titles = titles };
        foreach (var line in lines.Skip(1))
        {
            // The last column (the command) may hold spaces: split into exactly as many fields as titles.
            var fields = line.Split(' ', titles.Count, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            if (fields.Count < titles.Count) continue;
            if (int.TryParse(fields[pidColumn], out var pid) && pids.Contains(pid)) top.Processes.Add(fields);
        }
        return top;
    }

    /// <summary>
    /// GET /containers/{id}/stats: one frame per second while <c>stream</c> (the default); with
    /// stream=false one frame whose precpu_stats is a second older, so the CLI can compute CPU%,
    /// or at once with one-shot=true.
    /// </summary>
    public async Task StatsJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        bool stream = !job.Env.Has("stream") || job.Env.GetBool("stream");
        bool oneShot = job.Env.GetBool("one-shot");
        var body = await job.Stdout.StreamAsync("application/json");
        ContainerStatsResponse? previous = null;
        if (!stream && !oneShot && c.IsRunning)
        {
            previous = Sample(c, null);
            try { await Task.Delay(TimeSpan.FromSeconds(1), job.Cancelled); } catch (OperationCanceledException) { return; }
        }
        while (!job.Cancelled.IsCancellationRequested)
        {
            var frame = Sample(c, previous);
            await JsonSerializer.SerializeAsync(body, frame, ApiJson.Default.ContainerStatsResponse, job.Cancelled);
            await body.WriteAsync("\n"u8.ToArray(), job.Cancelled);
            await body.FlushAsync(job.Cancelled);
            if (!stream) return;
            previous = frame;
            try { await Task.Delay(TimeSpan.FromSeconds(1), job.Cancelled); } catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>A stats frame; a stopped container's is all zeros, as Docker sends it.</summary>
    ContainerStatsResponse Sample(Container c, ContainerStatsResponse? previous)
    {
        var frame = new ContainerStatsResponse { Name = c.Name, Id = c.Id, Read = DateTimeOffset.UtcNow };
        if (previous is not null) { frame.PreRead = previous.Read; frame.PreCpuStats = previous.CpuStats; }
        if (!c.IsRunning) return frame;
        CgroupStats s;
        try { s = CgroupOf(c).Stats(); }
        catch (RuntimeException) { return frame; }
        frame.CpuStats = new CpuStatsJson
        {
            CpuUsage = new CpuUsageJson
            {
                TotalUsage = s.Cpu.TotalUsage, UsageInKernelmode = s.Cpu.KernelUsage, UsageInUsermode = s.Cpu.UserUsage,
                PercpuUsage = s.Cpu.PerCpuUsage.Count > 0 ? s.Cpu.PerCpuUsage : null,
            },
            SystemCpuUsage = HostStats.SystemCpuUsage(),
            OnlineCpus = (uint)Environment.ProcessorCount,
            ThrottlingData = new ThrottlingDataJson { Periods = s.Cpu.ThrottlingPeriods, ThrottledPeriods = s.Cpu.ThrottledPeriods, ThrottledTime = s.Cpu.ThrottledTime },
        };
        var machine = HostStats.MemTotal();
        frame.MemoryStats = new MemoryStatsJson
        {
            Usage = s.Memory.Usage, MaxUsage = s.Memory.MaxUsage, Failcnt = s.Memory.Failcnt, Stats = s.Memory.Raw,
            // An unlimited cgroup reports a huge number; Docker shows the machine's memory instead.
            Limit = s.Memory.Limit == 0 || s.Memory.Limit > machine ? machine : s.Memory.Limit,
        };
        frame.PidsStats = new PidsStatsJson { Current = s.Pids.Current, Limit = s.Pids.Limit };
        frame.BlkioStats = new BlkioStatsJson
        {
            IoServiceBytesRecursive = s.Blkio.IoServiceBytesRecursive.Select(Entry).ToList(),
            IoServicedRecursive = s.Blkio.IoServicedRecursive.Select(Entry).ToList(),
        };
        if (c.State.Pid > 0 && c.Record.HostConfig.NetworkMode != "host") frame.Networks = HostStats.NetDev(c.State.Pid);
        return frame;

        static BlkioEntryJson Entry(BlkioEntry e) => new() { Major = e.Major, Minor = e.Minor, Op = e.Op, Value = e.Value };
    }

    /// <summary>
    /// POST /containers/{id}/update: the resource fields present and non-zero in the body replace
    /// the container's, take effect at once on a running container, and are kept for its next start.
    /// </summary>
    public async Task UpdateJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        var update = await JobJson.ReadAsync(job, ApiJson.Default.HostConfig) ?? throw ApiException.BadRequest("update config cannot be empty");
        await c.Lock.WaitAsync();
        try
        {
            var h = c.Record.HostConfig;
            var warnings = new List<string>();
            if (update.Memory > 0 && h.MemorySwap > 0 && update.MemorySwap == 0 && update.Memory > h.MemorySwap)
                throw ApiException.BadRequest("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
            var merged = JsonSerializer.Deserialize(JsonSerializer.Serialize(h, ApiJson.Default.HostConfig), ApiJson.Default.HostConfig)!;
            if (update.Memory != 0) merged.Memory = update.Memory;
            if (update.MemorySwap != 0) merged.MemorySwap = update.MemorySwap;
            if (update.MemoryReservation != 0) merged.MemoryReservation = update.MemoryReservation;
            if (update.CpuShares != 0) merged.CpuShares = update.CpuShares;
            if (update.CpuPeriod != 0) merged.CpuPeriod = update.CpuPeriod;
            if (update.CpuQuota != 0) merged.CpuQuota = update.CpuQuota;
            if (update.NanoCpus != 0) { merged.NanoCpus = update.NanoCpus; merged.CpuQuota = 0; merged.CpuPeriod = 0; }
            if (update.CpusetCpus.Length > 0) merged.CpusetCpus = update.CpusetCpus;
            if (update.CpusetMems.Length > 0) merged.CpusetMems = update.CpusetMems;
            if (update.CpuRealtimePeriod != 0) merged.CpuRealtimePeriod = update.CpuRealtimePeriod;
            if (update.CpuRealtimeRuntime != 0) merged.CpuRealtimeRuntime = update.CpuRealtimeRuntime;
            if (update.BlkioWeight != 0) merged.BlkioWeight = update.BlkioWeight;
            if (update.PidsLimit is { } pids and not 0) merged.PidsLimit = pids;
            if (update.RestartPolicy.Name is { Length: > 0 } policy && policy != "no" || update.RestartPolicy.MaximumRetryCount > 0)
            {
                if (h.AutoRemove && update.RestartPolicy.Name is not ("no" or ""))
                    throw ApiException.BadRequest("Restart policy cannot be updated because AutoRemove is enabled for the container");
                merged.RestartPolicy = update.RestartPolicy;
            }
            if (merged.NanoCpus > 0 && (merged.CpuQuota > 0 || merged.CpuPeriod > 0))
                throw ApiException.BadRequest("Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota has already been set");
            var resources = SpecBuilder.BuildResources(merged);
            if (c.IsRunning)
            {
                // Devices are set at start; re-writing the deny-all rule on a live cgroup would cut the container off meanwhile.
                resources.Devices = null;
                try { CgroupOf(c).Apply(resources); }
                catch (RuntimeException e) { throw new ApiException(500, $"Cannot update container {c.Id}: {e.Message}"); }
            }
            lock (c.Record) c.Record.HostConfig = merged;
            _store.Save(c);
            await job.Stdout.JsonAsync(200, new ContainerUpdateResponse { Warnings = warnings }, ApiJson.Default.ContainerUpdateResponse);
        }
        finally { c.Lock.Release(); }
        Publish(c, "update");
    }
}

/// <summary>The host-wide numbers a stats frame carries beside the cgroup's.</summary>
static class HostStats
{
    /// <summary>Total CPU time of the machine in nanoseconds (the "cpu" line of /proc/stat, in USER_HZ ticks).</summary>
    public static ulong SystemCpuUsage()
    {
        using var reader = new StreamReader("/proc/stat");
        var line = reader.ReadLine() ?? "";
        var ticks = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(7).Select(ulong.Parse).Aggregate(0UL, (a, b) => a + b);
        return ticks * 10_000_000;
    }

    static ulong s_memTotal;

    public static ulong MemTotal()
    {
        if (s_memTotal != 0) return s_memTotal;
        foreach (var line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                return s_memTotal = ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    /// <summary>Interface counters as the container's network namespace sees them (lo left out, as Docker does).</summary>
    public static Dictionary<string, NetworkStatsJson>? NetDev(int pid)
    {
        string[] lines;
        try { lines = File.ReadAllLines($"/proc/{pid}/net/dev"); }
        catch (IOException) { return null; }
        var result = new Dictionary<string, NetworkStatsJson>();
        foreach (var line in lines.Skip(2))
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var name = line[..colon].Trim();
            if (name == "lo") continue;
            var f = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(ulong.Parse).ToArray();
            if (f.Length < 12) continue;
            result[name] = new NetworkStatsJson
            {
                RxBytes = f[0], RxPackets = f[1], RxErrors = f[2], RxDropped = f[3],
                TxBytes = f[8], TxPackets = f[9], TxErrors = f[10], TxDropped = f[11],
            };
        }
        return result;
    }
}
