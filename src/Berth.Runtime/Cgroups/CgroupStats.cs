namespace Berth.Runtime.Cgroups;

/// <summary>
/// One reading of a container's cgroup counters, the same shape whichever cgroup version the host
/// runs. It carries what runc's <c>events --stats</c> and Docker's stats API report; a counter the
/// kernel does not offer stays zero. Times are nanoseconds, sizes bytes.
/// </summary>
public sealed class CgroupStats
{
    public CpuStats Cpu { get; set; } = new();
    public MemoryStats Memory { get; set; } = new();
    public PidsStats Pids { get; set; } = new();
    public BlkioStats Blkio { get; set; } = new();
    /// <summary>Page size as Docker writes it ("2MB", "1GB") → usage.</summary>
    public Dictionary<string, HugetlbStats> Hugetlb { get; set; } = [];
}

public sealed class CpuStats
{
    public ulong TotalUsage { get; set; }
    /// <summary>Per-CPU usage; v1 only (v2 has no per-CPU counter).</summary>
    public List<ulong> PerCpuUsage { get; set; } = [];
    public ulong KernelUsage { get; set; }
    public ulong UserUsage { get; set; }
    public ulong ThrottlingPeriods { get; set; }
    public ulong ThrottledPeriods { get; set; }
    public ulong ThrottledTime { get; set; }
}

public sealed class MemoryStats
{
    public ulong Usage { get; set; }
    public ulong MaxUsage { get; set; }
    /// <summary><see cref="ulong.MaxValue"/> when unlimited.</summary>
    public ulong Limit { get; set; }
    public ulong Failcnt { get; set; }
    /// <summary>v1: memory+swap (memsw) as runc reports it; v2: swap alone.</summary>
    public ulong SwapUsage { get; set; }
    public ulong SwapLimit { get; set; }
    /// <summary>Page cache: v1 "cache", v2 "file" in memory.stat.</summary>
    public ulong Cache { get; set; }
    /// <summary>How many times the kernel's OOM killer killed a process in this cgroup.</summary>
    public ulong OomKills { get; set; }
    /// <summary>memory.stat as the kernel wrote it.</summary>
    public Dictionary<string, ulong> Raw { get; set; } = [];
}

public sealed class PidsStats
{
    public ulong Current { get; set; }
    /// <summary>0 when unlimited, as runc reports it.</summary>
    public ulong Limit { get; set; }
}

public sealed record BlkioEntry(ulong Major, ulong Minor, string Op, ulong Value);

public sealed class BlkioStats
{
    public List<BlkioEntry> IoServiceBytesRecursive { get; set; } = [];
    public List<BlkioEntry> IoServicedRecursive { get; set; } = [];
}

public sealed class HugetlbStats
{
    public ulong Usage { get; set; }
    public ulong MaxUsage { get; set; }
    public ulong Failcnt { get; set; }
}
