using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Api;

// Docker Engine API container types (v1.43 shapes). Property names are the wire names;
// docker-py and users' --format templates are case-sensitive, so they match the spec exactly.

/// <summary>The container's own configuration: <c>Config</c> in create and inspect.</summary>
public sealed class ContainerConfig
{
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public string? User { get; set; }
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, EmptyObject>? ExposedPorts { get; set; }
    public bool Tty { get; set; }
    public bool OpenStdin { get; set; }
    public bool StdinOnce { get; set; }
    public List<string>? Env { get; set; }
    [JsonConverter(typeof(StrSliceConverter))]
    public List<string>? Cmd { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public HealthConfig? Healthcheck { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ArgsEscaped { get; set; }
    public string? Image { get; set; }
    public Dictionary<string, EmptyObject>? Volumes { get; set; }
    public string? WorkingDir { get; set; }
    [JsonConverter(typeof(StrSliceConverter))]
    public List<string>? Entrypoint { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool NetworkDisabled { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? MacAddress { get; set; }
    public List<string>? OnBuild { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StopSignal { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? StopTimeout { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Shell { get; set; }
}

/// <summary>Serialises as <c>{}</c>: the value type of Docker's set-like maps (ExposedPorts, Volumes).</summary>
public sealed class EmptyObject { }

public sealed class HealthConfig
{
    public List<string>? Test { get; set; }
    public long Interval { get; set; }
    public long Timeout { get; set; }
    public long StartPeriod { get; set; }
    public int Retries { get; set; }
}

public sealed class RestartPolicy
{
    public string Name { get; set; } = "no";
    public int MaximumRetryCount { get; set; }
}

public sealed class LogConfig
{
    public string Type { get; set; } = "json-file";
    public Dictionary<string, string> Config { get; set; } = new();
}

public sealed class PortBinding
{
    public string HostIp { get; set; } = "";
    public string HostPort { get; set; } = "";
}

public sealed class Ulimit
{
    public string Name { get; set; } = "";
    public long Soft { get; set; }
    public long Hard { get; set; }
}

public sealed class DeviceMapping
{
    public string PathOnHost { get; set; } = "";
    public string PathInContainer { get; set; } = "";
    public string CgroupPermissions { get; set; } = "";
}

public sealed class WeightDevice
{
    public string Path { get; set; } = "";
    public ushort Weight { get; set; }
}

public sealed class ThrottleDevice
{
    public string Path { get; set; } = "";
    public ulong Rate { get; set; }
}

public sealed class MountSpec
{
    public string? Type { get; set; }
    public string? Source { get; set; }
    public string? Target { get; set; }
    public bool ReadOnly { get; set; }
    public string? Consistency { get; set; }
}

/// <summary>Host-side settings: <c>HostConfig</c> in create and inspect.</summary>
public sealed class HostConfig
{
    public List<string>? Binds { get; set; }
    public string ContainerIDFile { get; set; } = "";
    public LogConfig LogConfig { get; set; } = new();
    public string NetworkMode { get; set; } = "default";
    public Dictionary<string, List<PortBinding>?>? PortBindings { get; set; }
    public RestartPolicy RestartPolicy { get; set; } = new();
    public bool AutoRemove { get; set; }
    public string VolumeDriver { get; set; } = "";
    public List<string>? VolumesFrom { get; set; }
    public List<long>? ConsoleSize { get; set; }
    public List<string>? CapAdd { get; set; }
    public List<string>? CapDrop { get; set; }
    public string CgroupnsMode { get; set; } = "";
    public List<string>? Dns { get; set; }
    public List<string>? DnsOptions { get; set; }
    public List<string>? DnsSearch { get; set; }
    public List<string>? ExtraHosts { get; set; }
    public List<string>? GroupAdd { get; set; }
    public string IpcMode { get; set; } = "";
    public string Cgroup { get; set; } = "";
    public List<string>? Links { get; set; }
    public int OomScoreAdj { get; set; }
    public string PidMode { get; set; } = "";
    public bool Privileged { get; set; }
    public bool PublishAllPorts { get; set; }
    public bool ReadonlyRootfs { get; set; }
    public List<string>? SecurityOpt { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? StorageOpt { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Tmpfs { get; set; }
    public string UTSMode { get; set; } = "";
    public string UsernsMode { get; set; } = "";
    public long ShmSize { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Sysctls { get; set; }
    public string Runtime { get; set; } = "";
    public string Isolation { get; set; } = "";
    // Resources
    public long CpuShares { get; set; }
    public long Memory { get; set; }
    public long NanoCpus { get; set; }
    public string CgroupParent { get; set; } = "";
    public int BlkioWeight { get; set; }
    public List<WeightDevice>? BlkioWeightDevice { get; set; }
    public List<ThrottleDevice>? BlkioDeviceReadBps { get; set; }
    public List<ThrottleDevice>? BlkioDeviceWriteBps { get; set; }
    [JsonPropertyName("BlkioDeviceReadIOps")] public List<ThrottleDevice>? BlkioDeviceReadIOps { get; set; }
    [JsonPropertyName("BlkioDeviceWriteIOps")] public List<ThrottleDevice>? BlkioDeviceWriteIOps { get; set; }
    public long CpuPeriod { get; set; }
    public long CpuQuota { get; set; }
    public long CpuRealtimePeriod { get; set; }
    public long CpuRealtimeRuntime { get; set; }
    public string CpusetCpus { get; set; } = "";
    public string CpusetMems { get; set; } = "";
    public List<DeviceMapping>? Devices { get; set; }
    public List<string>? DeviceCgroupRules { get; set; }
    public long MemoryReservation { get; set; }
    public long MemorySwap { get; set; }
    public long? MemorySwappiness { get; set; }
    public bool? OomKillDisable { get; set; }
    public long? PidsLimit { get; set; }
    public List<Ulimit>? Ulimits { get; set; }
    public bool? Init { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<MountSpec>? Mounts { get; set; }
    public List<string>? MaskedPaths { get; set; }
    public List<string>? ReadonlyPaths { get; set; }
}

public sealed class EndpointSettings
{
    public EndpointIpamConfig? IPAMConfig { get; set; }
    public List<string>? Links { get; set; }
    public List<string>? Aliases { get; set; }
    public string NetworkID { get; set; } = "";
    public string EndpointID { get; set; } = "";
    public string Gateway { get; set; } = "";
    public string IPAddress { get; set; } = "";
    public int IPPrefixLen { get; set; }
    public string IPv6Gateway { get; set; } = "";
    public string GlobalIPv6Address { get; set; } = "";
    public int GlobalIPv6PrefixLen { get; set; }
    public string MacAddress { get; set; } = "";
    public Dictionary<string, string>? DriverOpts { get; set; }
}

public sealed class EndpointIpamConfig
{
    public string? IPv4Address { get; set; }
    public string? IPv6Address { get; set; }
}

public sealed class NetworkingConfig
{
    public Dictionary<string, EndpointSettings?>? EndpointsConfig { get; set; }
}

/// <summary>
/// Body of <c>POST /containers/create</c>: on the wire the Config fields sit at the top level
/// beside HostConfig and NetworkingConfig; in code they are one <see cref="ContainerConfig"/>.
/// </summary>
[JsonConverter(typeof(ContainerCreateRequestConverter))]
public sealed class ContainerCreateRequest
{
    public ContainerConfig Config { get; set; } = new();
    public HostConfig? HostConfig { get; set; }
    public NetworkingConfig? NetworkingConfig { get; set; }
}

/// <summary>Flattens <see cref="ContainerCreateRequest"/> to and from Docker's wire shape.</summary>
public sealed class ContainerCreateRequestConverter : JsonConverter<ContainerCreateRequest>
{
    public override ContainerCreateRequest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("expected a JSON object");
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        var request = new ContainerCreateRequest { Config = root.Deserialize(ApiJson.Default.ContainerConfig)! };
        foreach (var property in root.EnumerateObject())
        {
            // Go's decoder matches field names case-insensitively; so do we.
            if (property.Name.Equals("HostConfig", StringComparison.OrdinalIgnoreCase))
                request.HostConfig = property.Value.Deserialize(ApiJson.Default.HostConfig);
            else if (property.Name.Equals("NetworkingConfig", StringComparison.OrdinalIgnoreCase))
                request.NetworkingConfig = property.Value.Deserialize(ApiJson.Default.NetworkingConfig);
        }
        return request;
    }

    public override void Write(Utf8JsonWriter writer, ContainerCreateRequest value, JsonSerializerOptions options) =>
        ContainerCreateJson.Write(writer, value);
}

public sealed class ContainerCreateResponse
{
    public string Id { get; set; } = "";
    public List<string> Warnings { get; set; } = new();
}

public sealed class ContainerState
{
    public string Status { get; set; } = "created";
    public bool Running { get; set; }
    public bool Paused { get; set; }
    public bool Restarting { get; set; }
    public bool OOMKilled { get; set; }
    public bool Dead { get; set; }
    public int Pid { get; set; }
    public int ExitCode { get; set; }
    public string Error { get; set; } = "";
    public string StartedAt { get; set; } = Timestamps.Zero;
    public string FinishedAt { get; set; } = Timestamps.Zero;
}

public sealed class GraphDriverData
{
    public string Name { get; set; } = "";
    public Dictionary<string, string>? Data { get; set; }
}

public sealed class MountPoint
{
    public string Type { get; set; } = "";
    public string? Name { get; set; }
    public string Source { get; set; } = "";
    public string Destination { get; set; } = "";
    public string? Driver { get; set; }
    public string Mode { get; set; } = "";
    public bool RW { get; set; }
    public string Propagation { get; set; } = "";
}

public sealed class NetworkSettings
{
    public string Bridge { get; set; } = "";
    public string SandboxID { get; set; } = "";
    public bool HairpinMode { get; set; }
    public string LinkLocalIPv6Address { get; set; } = "";
    public int LinkLocalIPv6PrefixLen { get; set; }
    public Dictionary<string, List<PortBinding>?> Ports { get; set; } = new();
    public string SandboxKey { get; set; } = "";
    public object? SecondaryIPAddresses { get; set; }
    public object? SecondaryIPv6Addresses { get; set; }
    public string EndpointID { get; set; } = "";
    public string Gateway { get; set; } = "";
    public string GlobalIPv6Address { get; set; } = "";
    public int GlobalIPv6PrefixLen { get; set; }
    public string IPAddress { get; set; } = "";
    public int IPPrefixLen { get; set; }
    public string IPv6Gateway { get; set; } = "";
    public string MacAddress { get; set; } = "";
    public Dictionary<string, EndpointSettings> Networks { get; set; } = new();
}

/// <summary><c>GET /containers/{id}/json</c>.</summary>
public sealed class ContainerInspect
{
    public string Id { get; set; } = "";
    public string Created { get; set; } = Timestamps.Zero;
    public string Path { get; set; } = "";
    public List<string> Args { get; set; } = new();
    public ContainerState State { get; set; } = new();
    public string Image { get; set; } = "";
    public string ResolvConfPath { get; set; } = "";
    public string HostnamePath { get; set; } = "";
    public string HostsPath { get; set; } = "";
    public string LogPath { get; set; } = "";
    public string Name { get; set; } = "";
    public int RestartCount { get; set; }
    public string Driver { get; set; } = "";
    public string Platform { get; set; } = "linux";
    public string MountLabel { get; set; } = "";
    public string ProcessLabel { get; set; } = "";
    public string AppArmorProfile { get; set; } = "";
    public List<string>? ExecIDs { get; set; }
    public HostConfig HostConfig { get; set; } = new();
    public GraphDriverData GraphDriver { get; set; } = new();
    public List<MountPoint> Mounts { get; set; } = new();
    public ContainerConfig Config { get; set; } = new();
    public NetworkSettings NetworkSettings { get; set; } = new();
}

public sealed class PortSummary
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? IP { get; set; }
    public int PrivatePort { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int PublicPort { get; set; }
    public string Type { get; set; } = "tcp";
}

public sealed class SummaryHostConfig
{
    public string NetworkMode { get; set; } = "default";
}

public sealed class SummaryNetworkSettings
{
    public Dictionary<string, EndpointSettings> Networks { get; set; } = new();
}

/// <summary>One row of <c>GET /containers/json</c>.</summary>
public sealed class ContainerSummary
{
    public string Id { get; set; } = "";
    public List<string> Names { get; set; } = new();
    public string Image { get; set; } = "";
    public string ImageID { get; set; } = "";
    public string Command { get; set; } = "";
    public long Created { get; set; }
    public List<PortSummary> Ports { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? SizeRw { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? SizeRootFs { get; set; }
    public Dictionary<string, string> Labels { get; set; } = new();
    public string State { get; set; } = "";
    public string Status { get; set; } = "";
    public SummaryHostConfig HostConfig { get; set; } = new();
    public SummaryNetworkSettings NetworkSettings { get; set; } = new();
    public List<MountPoint> Mounts { get; set; } = new();
}

public sealed class WaitError
{
    public string Message { get; set; } = "";
}

public sealed class ContainerWaitResponse
{
    public long StatusCode { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public WaitError? Error { get; set; }
}
