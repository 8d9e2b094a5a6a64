using System.Text.Json;
using Berth.Runtime.Json;

namespace Berth.Runtime.Oci;

// The OCI runtime-spec 1.x config.json model. Its JSON is SpecJson's field tables, which name
// each field as the spec does. Unknown fields are ignored, as the spec requires.

public sealed class Spec
{
    public string OciVersion { get; set; } = "1.2.0";
    public Process? Process { get; set; }
    public Root? Root { get; set; }
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public List<Mount>? Mounts { get; set; }
    public Hooks? Hooks { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    public Linux? Linux { get; set; }

    /// <summary>Reads and validates a config.json; errors name the file and the offending field.</summary>
    public static Spec Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new SpecException(path, "", e.Message); }
        catch (UnauthorizedAccessException e) { throw new SpecException(path, "", e.Message); }
        return Parse(text, path);
    }

    /// <summary>Parses and validates spec JSON; <paramref name="source"/> names it in errors.</summary>
    public static Spec Parse(string json, string source = "config.json")
    {
        Spec? spec;
        try { spec = SpecJson.Spec.Deserialize(json); }
        catch (JsonCodecException e) { throw new SpecException(source, e.Path, e.Problem); }
        if (spec is null) throw new SpecException(source, "", "the spec is null");
        spec.Validate(source);
        return spec;
    }

    /// <summary>Writes the spec indented, as runc writes config.json, through a temp file.</summary>
    public void Save(string path)
    {
        var tmp = path + ".tmp";
        using (var file = File.Create(tmp))
        using (var writer = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true }))
            SpecJson.Spec.Write(writer, this);
        File.Move(tmp, path, overwrite: true);
    }

    public string ToJson() => SpecJson.Spec.Serialize(this);

    /// <summary>Checks what the spec makes mandatory and what the runtime cannot do without.</summary>
    public void Validate(string source = "config.json")
    {
        if (string.IsNullOrEmpty(OciVersion)) throw new SpecException(source, "ociVersion", "is required");
        if (Root is not null && string.IsNullOrEmpty(Root.Path)) throw new SpecException(source, "root.path", "is required");
        if (Process is not null)
        {
            if (Process.Args is null || Process.Args.Count == 0) throw new SpecException(source, "process.args", "must name a command");
            if (string.IsNullOrEmpty(Process.Cwd) || Process.Cwd[0] != '/') throw new SpecException(source, "process.cwd", "must be an absolute path");
            for (var i = 0; i < (Process.Rlimits?.Count ?? 0); i++)
                if (!Rlimit.Resources.ContainsKey(Process.Rlimits![i].Type))
                    throw new SpecException(source, $"process.rlimits[{i}].type", $"unknown rlimit \"{Process.Rlimits[i].Type}\"");
        }
        for (var i = 0; i < (Mounts?.Count ?? 0); i++)
            if (string.IsNullOrEmpty(Mounts![i].Destination) || Mounts[i].Destination[0] != '/')
                throw new SpecException(source, $"mounts[{i}].destination", "must be an absolute path");
        for (var i = 0; i < (Linux?.Namespaces?.Count ?? 0); i++)
            if (!LinuxNamespace.Flags.ContainsKey(Linux!.Namespaces![i].Type))
                throw new SpecException(source, $"linux.namespaces[{i}].type", $"unknown namespace \"{Linux.Namespaces[i].Type}\"");
        ValidateIdMappings(source);
    }

    /// <summary>The kernel's limit on lines in uid_map and gid_map.</summary>
    public const int MaxIdMappings = 340;

    /// <summary>
    /// A new user namespace needs both maps, and they must map root (the C stage and init run as
    /// the namespace's uid and gid 0) and the process's ids; the kernel would refuse overlapping
    /// ranges or too many lines only after the namespace exists. A joined user namespace has its maps.
    /// </summary>
    void ValidateIdMappings(string source)
    {
        var userNs = Linux?.Namespaces?.FirstOrDefault(n => n.Type == "user");
        var uids = Linux?.UidMappings ?? [];
        var gids = Linux?.GidMappings ?? [];
        if (userNs is null || userNs.Path is not null)
        {
            var why = userNs is null ? "needs a user namespace in linux.namespaces" : "must be empty when the user namespace is joined by path";
            if (uids.Count > 0) throw new SpecException(source, "linux.uidMappings", why);
            if (gids.Count > 0) throw new SpecException(source, "linux.gidMappings", why);
            return;
        }
        CheckMappings(source, "linux.uidMappings", uids, [("linux.uidMappings", 0), ("process.user.uid", Process?.User.Uid ?? 0)]);
        CheckMappings(source, "linux.gidMappings", gids,
            [("linux.gidMappings", 0), ("process.user.gid", Process?.User.Gid ?? 0),
             .. (Process?.User.AdditionalGids ?? []).Select((g, i) => ($"process.user.additionalGids[{i}]", g))]);
    }

    static void CheckMappings(string source, string field, List<LinuxIdMapping> mappings, (string Field, uint Id)[] needed)
    {
        if (mappings.Count == 0) throw new SpecException(source, field, "is required with a new user namespace");
        if (mappings.Count > MaxIdMappings) throw new SpecException(source, field, $"has {mappings.Count} entries; the kernel takes at most {MaxIdMappings}");
        for (var i = 0; i < mappings.Count; i++)
        {
            var m = mappings[i];
            if (m.Size == 0) throw new SpecException(source, $"{field}[{i}].size", "must be at least 1");
            if ((ulong)m.ContainerId + m.Size > 1UL << 32) throw new SpecException(source, $"{field}[{i}]", "containerID + size is beyond the last id (4294967295)");
            if ((ulong)m.HostId + m.Size > 1UL << 32) throw new SpecException(source, $"{field}[{i}]", "hostID + size is beyond the last id (4294967295)");
            for (var j = 0; j < i; j++)
            {
                if (Overlap(mappings[j].ContainerId, mappings[j].Size, m.ContainerId, m.Size))
                    throw new SpecException(source, $"{field}[{i}]", $"its container ids overlap those of {field}[{j}]");
                if (Overlap(mappings[j].HostId, mappings[j].Size, m.HostId, m.Size))
                    throw new SpecException(source, $"{field}[{i}]", $"its host ids overlap those of {field}[{j}]");
            }
        }
        foreach (var (name, id) in needed)
            if (!mappings.Any(m => id >= m.ContainerId && id - m.ContainerId < m.Size))
                throw new SpecException(source, name, name == field
                    ? $"must map container id {id}: init runs as the user namespace's root"
                    : $"{id} is not mapped by {field}");
    }

    static bool Overlap(uint a, uint aSize, uint b, uint bSize) => (ulong)a < (ulong)b + bSize && (ulong)b < (ulong)a + aSize;
}

/// <summary>A spec that can't be read or violates the runtime-spec; <see cref="Field"/> is the JSON path ("process.args").</summary>
public sealed class SpecException(string source, string field, string problem)
    : Exception(field.Length == 0 ? $"{source}: {problem}" : $"{source}: {field}: {problem}")
{
    public string Field { get; } = field;
}

public sealed class Process
{
    public bool Terminal { get; set; }
    public Box? ConsoleSize { get; set; }
    public User User { get; set; } = new();
    public List<string> Args { get; set; } = [];
    public string? CommandLine { get; set; }
    public List<string>? Env { get; set; }
    public string Cwd { get; set; } = "/";
    public Capabilities? Capabilities { get; set; }
    public List<Rlimit>? Rlimits { get; set; }
    public bool NoNewPrivileges { get; set; }
    public string? ApparmorProfile { get; set; }
    public int? OomScoreAdj { get; set; }
    public string? SelinuxLabel { get; set; }
    public LinuxIOPriority? IoPriority { get; set; }
    public LinuxScheduler? Scheduler { get; set; }
}

public sealed class Box
{
    public uint Height { get; set; }
    public uint Width { get; set; }
}

public sealed class User
{
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public uint? Umask { get; set; }
    public List<uint>? AdditionalGids { get; set; }
    public string? Username { get; set; }
}

public sealed class Capabilities
{
    public List<string>? Bounding { get; set; }
    public List<string>? Effective { get; set; }
    public List<string>? Inheritable { get; set; }
    public List<string>? Permitted { get; set; }
    public List<string>? Ambient { get; set; }
}

public sealed class Rlimit
{
    public string Type { get; set; } = "";
    public ulong Hard { get; set; }
    public ulong Soft { get; set; }

    /// <summary>The spec's rlimit names and their Linux resource numbers.</summary>
    public static readonly IReadOnlyDictionary<string, int> Resources = new Dictionary<string, int>
    {
        ["RLIMIT_CPU"] = 0, ["RLIMIT_FSIZE"] = 1, ["RLIMIT_DATA"] = 2, ["RLIMIT_STACK"] = 3,
        ["RLIMIT_CORE"] = 4, ["RLIMIT_RSS"] = 5, ["RLIMIT_NPROC"] = 6, ["RLIMIT_NOFILE"] = 7,
        ["RLIMIT_MEMLOCK"] = 8, ["RLIMIT_AS"] = 9, ["RLIMIT_LOCKS"] = 10, ["RLIMIT_SIGPENDING"] = 11,
        ["RLIMIT_MSGQUEUE"] = 12, ["RLIMIT_NICE"] = 13, ["RLIMIT_RTPRIO"] = 14, ["RLIMIT_RTTIME"] = 15,
    };
}

public sealed class LinuxIOPriority
{
    public string Class { get; set; } = "";
    public int Priority { get; set; }
}

public sealed class LinuxScheduler
{
    public string Policy { get; set; } = "";
    public int? Nice { get; set; }
    public int? Priority { get; set; }
    public List<string>? Flags { get; set; }
    public ulong? Runtime { get; set; }
    public ulong? Deadline { get; set; }
    public ulong? Period { get; set; }
}

public sealed class Root
{
    public string Path { get; set; } = "";
    public bool Readonly { get; set; }
}

public sealed class Mount
{
    public string Destination { get; set; } = "";
    public string? Type { get; set; }
    public string? Source { get; set; }
    public List<string>? Options { get; set; }
}

public sealed class Hooks
{
    public List<Hook>? Prestart { get; set; }
    public List<Hook>? CreateRuntime { get; set; }
    public List<Hook>? CreateContainer { get; set; }
    public List<Hook>? StartContainer { get; set; }
    public List<Hook>? Poststart { get; set; }
    public List<Hook>? Poststop { get; set; }
}

public sealed class Hook
{
    public string Path { get; set; } = "";
    public List<string>? Args { get; set; }
    public List<string>? Env { get; set; }
    public int? Timeout { get; set; }
}

public sealed class Linux
{
    public List<LinuxIdMapping>? UidMappings { get; set; }
    public List<LinuxIdMapping>? GidMappings { get; set; }
    public Dictionary<string, string>? Sysctl { get; set; }
    public LinuxResources? Resources { get; set; }
    public string? CgroupsPath { get; set; }
    public List<LinuxNamespace>? Namespaces { get; set; }
    public List<LinuxDevice>? Devices { get; set; }
    public LinuxSeccomp? Seccomp { get; set; }
    public string? RootfsPropagation { get; set; }
    public List<string>? MaskedPaths { get; set; }
    public List<string>? ReadonlyPaths { get; set; }
    public string? MountLabel { get; set; }
    public LinuxPersonality? Personality { get; set; }
}

public sealed class LinuxIdMapping
{
    public uint ContainerId { get; set; }
    public uint HostId { get; set; }
    public uint Size { get; set; }
}

public sealed class LinuxNamespace
{
    public string Type { get; set; } = "";
    public string? Path { get; set; }

    /// <summary>The spec's namespace names and their CLONE_NEW* flags.</summary>
    public static readonly IReadOnlyDictionary<string, int> Flags = new Dictionary<string, int>
    {
        ["mount"] = 0x00020000, ["uts"] = 0x04000000, ["ipc"] = 0x08000000, ["network"] = 0x40000000,
        ["pid"] = 0x20000000, ["cgroup"] = 0x02000000, ["user"] = 0x10000000, ["time"] = 0x00000080,
    };
}

public sealed class LinuxDevice
{
    public string Path { get; set; } = "";
    public string Type { get; set; } = "";
    public long Major { get; set; }
    public long Minor { get; set; }
    public uint? FileMode { get; set; }
    public uint? Uid { get; set; }
    public uint? Gid { get; set; }
}

public sealed class LinuxPersonality
{
    public string Domain { get; set; } = "";
    public List<string>? Flags { get; set; }
}

public sealed class LinuxResources
{
    public List<LinuxDeviceCgroup>? Devices { get; set; }
    public LinuxMemory? Memory { get; set; }
    public LinuxCpu? Cpu { get; set; }
    public LinuxPids? Pids { get; set; }
    public LinuxBlockIO? BlockIO { get; set; }
    public List<LinuxHugepageLimit>? HugepageLimits { get; set; }
    public LinuxNetwork? Network { get; set; }
    public Dictionary<string, string>? Unified { get; set; }
}

public sealed class LinuxDeviceCgroup
{
    public bool Allow { get; set; }
    public string? Type { get; set; }
    public long? Major { get; set; }
    public long? Minor { get; set; }
    public string? Access { get; set; }
}

public sealed class LinuxMemory
{
    public long? Limit { get; set; }
    public long? Reservation { get; set; }
    public long? Swap { get; set; }
    public long? Kernel { get; set; }
    public long? KernelTcp { get; set; }
    public ulong? Swappiness { get; set; }
    public bool? DisableOomKiller { get; set; }
    public bool? UseHierarchy { get; set; }
    public bool? CheckBeforeUpdate { get; set; }
}

public sealed class LinuxCpu
{
    public ulong? Shares { get; set; }
    public long? Quota { get; set; }
    public long? Burst { get; set; }
    public ulong? Period { get; set; }
    public long? RealtimeRuntime { get; set; }
    public ulong? RealtimePeriod { get; set; }
    public string? Cpus { get; set; }
    public string? Mems { get; set; }
    public long? Idle { get; set; }
}

public sealed class LinuxPids
{
    public long Limit { get; set; }
}

public sealed class LinuxBlockIO
{
    public ushort? Weight { get; set; }
    public ushort? LeafWeight { get; set; }
    public List<LinuxWeightDevice>? WeightDevice { get; set; }
    public List<LinuxThrottleDevice>? ThrottleReadBpsDevice { get; set; }
    public List<LinuxThrottleDevice>? ThrottleWriteBpsDevice { get; set; }
    public List<LinuxThrottleDevice>? ThrottleReadIopsDevice { get; set; }
    public List<LinuxThrottleDevice>? ThrottleWriteIopsDevice { get; set; }
}

public sealed class LinuxWeightDevice
{
    public long Major { get; set; }
    public long Minor { get; set; }
    public ushort? Weight { get; set; }
    public ushort? LeafWeight { get; set; }
}

public sealed class LinuxThrottleDevice
{
    public long Major { get; set; }
    public long Minor { get; set; }
    public ulong Rate { get; set; }
}

public sealed class LinuxHugepageLimit
{
    public string PageSize { get; set; } = "";
    public ulong Limit { get; set; }
}

public sealed class LinuxNetwork
{
    public uint? ClassId { get; set; }
    public List<LinuxInterfacePriority>? Priorities { get; set; }
}

public sealed class LinuxInterfacePriority
{
    public string Name { get; set; } = "";
    public uint Priority { get; set; }
}

public sealed class LinuxSeccomp
{
    public string DefaultAction { get; set; } = "";
    public uint? DefaultErrnoRet { get; set; }
    public List<string>? Architectures { get; set; }
    public List<string>? Flags { get; set; }
    public string? ListenerPath { get; set; }
    public string? ListenerMetadata { get; set; }
    public List<LinuxSyscall>? Syscalls { get; set; }
}

public sealed class LinuxSyscall
{
    public List<string> Names { get; set; } = [];
    public string Action { get; set; } = "";
    public uint? ErrnoRet { get; set; }
    public List<LinuxSeccompArg>? Args { get; set; }
}

public sealed class LinuxSeccompArg
{
    public uint Index { get; set; }
    public ulong Value { get; set; }
    public ulong? ValueTwo { get; set; }
    public string Op { get; set; } = "";
}
