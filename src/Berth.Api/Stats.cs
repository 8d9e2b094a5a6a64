using System.Text.Json.Serialization;

namespace Berth.Api;

/// <summary>
/// One frame of <c>GET /containers/{id}/stats</c>, in the snake_case shape Docker's Linux daemon
/// writes and the docker CLI's <c>stats</c> computes its percentages from.
/// </summary>
public sealed class ContainerStatsResponse
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("read")] public DateTimeOffset Read { get; set; }
    [JsonPropertyName("preread")] public DateTimeOffset PreRead { get; set; }
    [JsonPropertyName("pids_stats")] public PidsStatsJson PidsStats { get; set; } = new();
    [JsonPropertyName("blkio_stats")] public BlkioStatsJson BlkioStats { get; set; } = new();
    [JsonPropertyName("num_procs")] public uint NumProcs { get; set; }
    [JsonPropertyName("storage_stats")] public Dictionary<string, ulong> StorageStats { get; set; } = [];
    [JsonPropertyName("cpu_stats")] public CpuStatsJson CpuStats { get; set; } = new();
    [JsonPropertyName("precpu_stats")] public CpuStatsJson PreCpuStats { get; set; } = new();
    [JsonPropertyName("memory_stats")] public MemoryStatsJson MemoryStats { get; set; } = new();
    [JsonPropertyName("networks")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, NetworkStatsJson>? Networks { get; set; }
}

public sealed class PidsStatsJson
{
    [JsonPropertyName("current")] public ulong Current { get; set; }
    [JsonPropertyName("limit")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Limit { get; set; }
}

public sealed class BlkioEntryJson
{
    [JsonPropertyName("major")] public ulong Major { get; set; }
    [JsonPropertyName("minor")] public ulong Minor { get; set; }
    [JsonPropertyName("op")] public string Op { get; set; } = "";
    [JsonPropertyName("value")] public ulong Value { get; set; }
}

public sealed class BlkioStatsJson
{
    [JsonPropertyName("io_service_bytes_recursive")] public List<BlkioEntryJson>? IoServiceBytesRecursive { get; set; }
    [JsonPropertyName("io_serviced_recursive")] public List<BlkioEntryJson>? IoServicedRecursive { get; set; }
    [JsonPropertyName("io_queue_recursive")] public List<BlkioEntryJson>? IoQueueRecursive { get; set; }
    [JsonPropertyName("io_service_time_recursive")] public List<BlkioEntryJson>? IoServiceTimeRecursive { get; set; }
    [JsonPropertyName("io_wait_time_recursive")] public List<BlkioEntryJson>? IoWaitTimeRecursive { get; set; }
    [JsonPropertyName("io_merged_recursive")] public List<BlkioEntryJson>? IoMergedRecursive { get; set; }
    [JsonPropertyName("io_time_recursive")] public List<BlkioEntryJson>? IoTimeRecursive { get; set; }
    [JsonPropertyName("sectors_recursive")] public List<BlkioEntryJson>? SectorsRecursive { get; set; }
}

public sealed class CpuUsageJson
{
    [JsonPropertyName("total_usage")] public ulong TotalUsage { get; set; }
    [JsonPropertyName("percpu_usage")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<ulong>? PercpuUsage { get; set; }
    [JsonPropertyName("usage_in_kernelmode")] public ulong UsageInKernelmode { get; set; }
    [JsonPropertyName("usage_in_usermode")] public ulong UsageInUsermode { get; set; }
}

public sealed class ThrottlingDataJson
{
    [JsonPropertyName("periods")] public ulong Periods { get; set; }
    [JsonPropertyName("throttled_periods")] public ulong ThrottledPeriods { get; set; }
    [JsonPropertyName("throttled_time")] public ulong ThrottledTime { get; set; }
}

public sealed class CpuStatsJson
{
    [JsonPropertyName("cpu_usage")] public CpuUsageJson CpuUsage { get; set; } = new();
    [JsonPropertyName("system_cpu_usage")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong SystemCpuUsage { get; set; }
    [JsonPropertyName("online_cpus")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public uint OnlineCpus { get; set; }
    [JsonPropertyName("throttling_data")] public ThrottlingDataJson ThrottlingData { get; set; } = new();
}

public sealed class MemoryStatsJson
{
    [JsonPropertyName("usage")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Usage { get; set; }
    [JsonPropertyName("max_usage")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong MaxUsage { get; set; }
    [JsonPropertyName("stats")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, ulong>? Stats { get; set; }
    [JsonPropertyName("failcnt")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Failcnt { get; set; }
    [JsonPropertyName("limit")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public ulong Limit { get; set; }
}

public sealed class NetworkStatsJson
{
    [JsonPropertyName("rx_bytes")] public ulong RxBytes { get; set; }
    [JsonPropertyName("rx_packets")] public ulong RxPackets { get; set; }
    [JsonPropertyName("rx_errors")] public ulong RxErrors { get; set; }
    [JsonPropertyName("rx_dropped")] public ulong RxDropped { get; set; }
    [JsonPropertyName("tx_bytes")] public ulong TxBytes { get; set; }
    [JsonPropertyName("tx_packets")] public ulong TxPackets { get; set; }
    [JsonPropertyName("tx_errors")] public ulong TxErrors { get; set; }
    [JsonPropertyName("tx_dropped")] public ulong TxDropped { get; set; }
}

/// <summary><c>GET /containers/{id}/top</c>: the ps header and one row of columns per process.</summary>
public sealed class ContainerTopResponse
{
    public List<string> Titles { get; set; } = [];
    public List<List<string>> Processes { get; set; } = [];
}

/// <summary><c>POST /containers/{id}/update</c>'s reply.</summary>
public sealed class ContainerUpdateResponse
{
    public List<string> Warnings { get; set; } = [];
}
