using System.Diagnostics;
using Berth.Runtime.Json;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;

namespace Berth.Runc;

// ps, pause, resume, update: the commands that work on a container's cgroup.
static partial class Cli
{
    static ICgroupManager RunningCgroup(string id, out ContainerState state)
    {
        state = store.Get(id);
        if (state.Status == "stopped") throw new UsageException("container not running");
        return CgroupOf(state) ?? throw new UsageException($"container {id} has no cgroup (its spec sets no linux.cgroupsPath)");
    }

    static int Ps(Args a)
    {
        var format = a.Value("-f", "--format") ?? "table";
        var id = a.Positional() ?? throw new UsageException("a container id is required");
        var psArgs = a.Rest("--");
        var pids = RunningCgroup(id, out _).Processes();
        switch (format)
        {
            case "json":
                Console.WriteLine(Codecs.Int32List.Serialize(pids.ToList(), indented: true));
                return 0;
            case "table":
                // As runc: the host's ps(1), keeping its header and the container's rows.
                var psi = new ProcessStartInfo("ps") { RedirectStandardOutput = true, UseShellExecute = false };
                foreach (var arg in psArgs.Count > 0 ? psArgs : ["-ef"]) psi.ArgumentList.Add(arg);
                using (var ps = System.Diagnostics.Process.Start(psi)!)
                {
                    var lines = ps.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
                    ps.WaitForExit();
                    var pidColumn = Array.IndexOf(lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries), "PID");
                    if (pidColumn < 0) throw new UsageException("couldn't find PID field in ps output");
                    Console.WriteLine(lines[0]);
                    foreach (var line in lines.Skip(1))
                        if (int.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[pidColumn], out var pid) && pids.Contains(pid))
                            Console.WriteLine(line);
                }
                return 0;
            default: throw new UsageException($"invalid format option \"{format}\"");
        }
    }

    static int Pause(Args a, bool frozen)
    {
        var id = a.Id();
        a.NoMore();
        var cgroup = RunningCgroup(id, out var state);
        if (frozen && state.Status != "running") throw new UsageException($"container not running: {state.Status}");
        if (!frozen && state.Status != "paused") throw new UsageException("container not paused");
        cgroup.Freeze(frozen);
        state.Status = frozen ? "paused" : "running";
        store.Save(state);
        return 0;
    }

    static int Update(Args a)
    {
        var resourcesFile = a.Value("-r", "--resources");
        var flags = new Dictionary<string, string?>
        {
            ["--memory"] = a.Value("-m", "--memory"), ["--memory-swap"] = a.Value("--memory-swap"),
            ["--memory-reservation"] = a.Value("--memory-reservation"), ["--kernel-memory"] = a.Value("--kernel-memory"),
            ["--cpu-shares"] = a.Value("--cpu-shares"), ["--cpu-quota"] = a.Value("--cpu-quota"),
            ["--cpu-period"] = a.Value("--cpu-period"), ["--cpuset-cpus"] = a.Value("--cpuset-cpus"),
            ["--cpuset-mems"] = a.Value("--cpuset-mems"), ["--pids-limit"] = a.Value("--pids-limit"),
            ["--blkio-weight"] = a.Value("--blkio-weight"),
        };
        var id = a.Id();
        a.NoMore();
        var cgroup = RunningCgroup(id, out _);
        var spec = store.LoadSpec(id);
        var resources = spec.Linux!.Resources ??= new LinuxResources();
        if (resourcesFile is not null) Merge(resources, ReadResources(resourcesFile));
        foreach (var (flag, value) in flags)
            if (value is not null) SetFlag(resources, flag, value);
        cgroup.Apply(resources);
        // Later execs and a later update start from what is in force now, as in runc.
        store.SaveSpec(id, spec);
        return 0;
    }

    static LinuxResources ReadResources(string path)
    {
        string text;
        try { text = path == "-" ? Console.In.ReadToEnd() : File.ReadAllText(path); }
        catch (IOException e) { throw new UsageException($"--resources {path}: {e.Message}"); }
        try { return SpecJson.LinuxResources.Deserialize(text) ?? new LinuxResources(); }
        catch (JsonCodecException e) { throw new UsageException($"--resources {path}: {e.Message}"); }
    }

    /// <summary>What the update JSON sets replaces what is in force; what it leaves out stays.</summary>
    static void Merge(LinuxResources into, LinuxResources from)
    {
        if (from.Memory is { } m)
        {
            var t = into.Memory ??= new LinuxMemory();
            t.Limit = m.Limit ?? t.Limit; t.Reservation = m.Reservation ?? t.Reservation; t.Swap = m.Swap ?? t.Swap;
            t.Kernel = m.Kernel ?? t.Kernel; t.KernelTcp = m.KernelTcp ?? t.KernelTcp; t.Swappiness = m.Swappiness ?? t.Swappiness;
            t.CheckBeforeUpdate = m.CheckBeforeUpdate ?? t.CheckBeforeUpdate;
        }
        if (from.Cpu is { } c)
        {
            var t = into.Cpu ??= new LinuxCpu();
            t.Shares = c.Shares ?? t.Shares; t.Quota = c.Quota ?? t.Quota; t.Period = c.Period ?? t.Period; t.Burst = c.Burst ?? t.Burst;
            t.RealtimeRuntime = c.RealtimeRuntime ?? t.RealtimeRuntime; t.RealtimePeriod = c.RealtimePeriod ?? t.RealtimePeriod;
            t.Cpus = c.Cpus ?? t.Cpus; t.Mems = c.Mems ?? t.Mems; t.Idle = c.Idle ?? t.Idle;
        }
        if (from.Pids is { } p) into.Pids = p;
        if (from.BlockIO is { } b) into.BlockIO = b;
        if (from.HugepageLimits is { } h) into.HugepageLimits = h;
        if (from.Unified is { } u) into.Unified = u;
    }

    static void SetFlag(LinuxResources r, string flag, string value)
    {
        long Long() => long.TryParse(value, out var n) ? n : throw new UsageException($"{flag}: \"{value}\" is not a number");
        ulong ULong() => ulong.TryParse(value, out var n) ? n : throw new UsageException($"{flag}: \"{value}\" is not a non-negative number");
        switch (flag)
        {
            case "--memory": (r.Memory ??= new()).Limit = Bytes(flag, value); break;
            case "--memory-swap": (r.Memory ??= new()).Swap = Bytes(flag, value); break;
            case "--memory-reservation": (r.Memory ??= new()).Reservation = Bytes(flag, value); break;
            case "--kernel-memory": (r.Memory ??= new()).Kernel = Bytes(flag, value); break;
            case "--cpu-shares": (r.Cpu ??= new()).Shares = ULong(); break;
            case "--cpu-quota": (r.Cpu ??= new()).Quota = Long(); break;
            case "--cpu-period": (r.Cpu ??= new()).Period = ULong(); break;
            case "--cpuset-cpus": (r.Cpu ??= new()).Cpus = value; break;
            case "--cpuset-mems": (r.Cpu ??= new()).Mems = value; break;
            case "--pids-limit": r.Pids = new LinuxPids { Limit = Long() }; break;
            case "--blkio-weight": (r.BlockIO ??= new()).Weight = ushort.TryParse(value, out var w) ? w : throw new UsageException($"{flag}: \"{value}\" is not a weight"); break;
        }
    }

    /// <summary>A size as runc's update flags take it: bytes, or with a k/m/g suffix (powers of 1024); -1 is unlimited.</summary>
    static long Bytes(string flag, string value)
    {
        if (value == "-1") return -1;
        var v = value.ToLowerInvariant().TrimEnd('b');
        var unit = v.Length > 0 ? v[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, 't' => 1L << 40, _ => 1 } : 1;
        if (unit > 1) v = v[..^1];
        return long.TryParse(v, out var n) && n >= 0 ? n * unit : throw new UsageException($"{flag}: invalid size \"{value}\"");
    }
}
