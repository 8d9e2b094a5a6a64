using Berth.Runtime.Json;

// A JSON null reaches a non-nullable property here as it did through System.Text.Json; Spec.Validate
// rejects the ones that matter (args, cwd, root.path, ...) with the field's name.
#pragma warning disable CS8601

namespace Berth.Runtime.Oci;

/// <summary>
/// The OCI runtime-spec's JSON, field by field (see <see cref="JsonCodec{T}"/> for why not the serializer).
/// Names are the spec's; fields are written in declaration order, nulls left out. Each type's codec is
/// declared after those it contains, since static fields initialise in textual order.
/// </summary>
public static class SpecJson
{
    public static readonly ObjectCodec<Box> Box = new(() => new())
    {
        { "height", Codecs.UInt32, o => o.Height, (o, v) => o.Height = v },
        { "width", Codecs.UInt32, o => o.Width, (o, v) => o.Width = v },
    };

    public static readonly ObjectCodec<User> User = new(() => new())
    {
        { "uid", Codecs.UInt32, o => o.Uid, (o, v) => o.Uid = v },
        { "gid", Codecs.UInt32, o => o.Gid, (o, v) => o.Gid = v },
        { "umask", Codecs.NullableUInt32, o => o.Umask, (o, v) => o.Umask = v },
        { "additionalGids", Codecs.UInt32List, o => o.AdditionalGids, (o, v) => o.AdditionalGids = v },
        { "username", Codecs.String, o => o.Username, (o, v) => o.Username = v },
    };

    public static readonly ObjectCodec<Capabilities> Capabilities = new(() => new())
    {
        { "bounding", Codecs.StringList, o => o.Bounding, (o, v) => o.Bounding = v },
        { "effective", Codecs.StringList, o => o.Effective, (o, v) => o.Effective = v },
        { "inheritable", Codecs.StringList, o => o.Inheritable, (o, v) => o.Inheritable = v },
        { "permitted", Codecs.StringList, o => o.Permitted, (o, v) => o.Permitted = v },
        { "ambient", Codecs.StringList, o => o.Ambient, (o, v) => o.Ambient = v },
    };

    public static readonly ObjectCodec<Rlimit> Rlimit = new(() => new())
    {
        { "type", Codecs.String, o => o.Type, (o, v) => o.Type = v },
        { "hard", Codecs.UInt64, o => o.Hard, (o, v) => o.Hard = v },
        { "soft", Codecs.UInt64, o => o.Soft, (o, v) => o.Soft = v },
    };

    public static readonly ObjectCodec<LinuxIOPriority> LinuxIOPriority = new(() => new())
    {
        { "class", Codecs.String, o => o.Class, (o, v) => o.Class = v },
        { "priority", Codecs.Int32, o => o.Priority, (o, v) => o.Priority = v },
    };

    public static readonly ObjectCodec<LinuxScheduler> LinuxScheduler = new(() => new())
    {
        { "policy", Codecs.String, o => o.Policy, (o, v) => o.Policy = v },
        { "nice", Codecs.NullableInt32, o => o.Nice, (o, v) => o.Nice = v },
        { "priority", Codecs.NullableInt32, o => o.Priority, (o, v) => o.Priority = v },
        { "flags", Codecs.StringList, o => o.Flags, (o, v) => o.Flags = v },
        { "runtime", Codecs.NullableUInt64, o => o.Runtime, (o, v) => o.Runtime = v },
        { "deadline", Codecs.NullableUInt64, o => o.Deadline, (o, v) => o.Deadline = v },
        { "period", Codecs.NullableUInt64, o => o.Period, (o, v) => o.Period = v },
    };

    public static readonly ObjectCodec<Process> Process = new(() => new())
    {
        { "terminal", Codecs.Bool, o => o.Terminal, (o, v) => o.Terminal = v },
        { "consoleSize", Box, o => o.ConsoleSize, (o, v) => o.ConsoleSize = v },
        { "user", User, o => o.User, (o, v) => o.User = v },
        { "args", Codecs.StringList, o => o.Args, (o, v) => o.Args = v },
        { "commandLine", Codecs.String, o => o.CommandLine, (o, v) => o.CommandLine = v },
        { "env", Codecs.StringList, o => o.Env, (o, v) => o.Env = v },
        { "cwd", Codecs.String, o => o.Cwd, (o, v) => o.Cwd = v },
        { "capabilities", Capabilities, o => o.Capabilities, (o, v) => o.Capabilities = v },
        { "rlimits", Codecs.ListOf(Rlimit), o => o.Rlimits, (o, v) => o.Rlimits = v },
        { "noNewPrivileges", Codecs.Bool, o => o.NoNewPrivileges, (o, v) => o.NoNewPrivileges = v },
        { "apparmorProfile", Codecs.String, o => o.ApparmorProfile, (o, v) => o.ApparmorProfile = v },
        { "oomScoreAdj", Codecs.NullableInt32, o => o.OomScoreAdj, (o, v) => o.OomScoreAdj = v },
        { "selinuxLabel", Codecs.String, o => o.SelinuxLabel, (o, v) => o.SelinuxLabel = v },
        { "ioPriority", LinuxIOPriority, o => o.IoPriority, (o, v) => o.IoPriority = v },
        { "scheduler", LinuxScheduler, o => o.Scheduler, (o, v) => o.Scheduler = v },
    };

    public static readonly ObjectCodec<Root> Root = new(() => new())
    {
        { "path", Codecs.String, o => o.Path, (o, v) => o.Path = v },
        { "readonly", Codecs.Bool, o => o.Readonly, (o, v) => o.Readonly = v },
    };

    public static readonly ObjectCodec<Mount> Mount = new(() => new())
    {
        { "destination", Codecs.String, o => o.Destination, (o, v) => o.Destination = v },
        { "type", Codecs.String, o => o.Type, (o, v) => o.Type = v },
        { "source", Codecs.String, o => o.Source, (o, v) => o.Source = v },
        { "options", Codecs.StringList, o => o.Options, (o, v) => o.Options = v },
    };

    public static readonly ObjectCodec<Hook> Hook = new(() => new())
    {
        { "path", Codecs.String, o => o.Path, (o, v) => o.Path = v },
        { "args", Codecs.StringList, o => o.Args, (o, v) => o.Args = v },
        { "env", Codecs.StringList, o => o.Env, (o, v) => o.Env = v },
        { "timeout", Codecs.NullableInt32, o => o.Timeout, (o, v) => o.Timeout = v },
    };

    static readonly JsonCodec<List<Hook>> HookList = Codecs.ListOf(Hook);

    public static readonly ObjectCodec<Hooks> Hooks = new(() => new())
    {
        { "prestart", HookList, o => o.Prestart, (o, v) => o.Prestart = v },
        { "createRuntime", HookList, o => o.CreateRuntime, (o, v) => o.CreateRuntime = v },
        { "createContainer", HookList, o => o.CreateContainer, (o, v) => o.CreateContainer = v },
        { "startContainer", HookList, o => o.StartContainer, (o, v) => o.StartContainer = v },
        { "poststart", HookList, o => o.Poststart, (o, v) => o.Poststart = v },
        { "poststop", HookList, o => o.Poststop, (o, v) => o.Poststop = v },
    };

    public static readonly ObjectCodec<LinuxIdMapping> LinuxIdMapping = new(() => new())
    {
        { "containerID", Codecs.UInt32, o => o.ContainerId, (o, v) => o.ContainerId = v },
        { "hostID", Codecs.UInt32, o => o.HostId, (o, v) => o.HostId = v },
        { "size", Codecs.UInt32, o => o.Size, (o, v) => o.Size = v },
    };

    static readonly JsonCodec<List<LinuxIdMapping>> IdMappings = Codecs.ListOf(LinuxIdMapping);

    public static readonly ObjectCodec<LinuxNamespace> LinuxNamespace = new(() => new())
    {
        { "type", Codecs.String, o => o.Type, (o, v) => o.Type = v },
        { "path", Codecs.String, o => o.Path, (o, v) => o.Path = v },
    };

    public static readonly ObjectCodec<LinuxDevice> LinuxDevice = new(() => new())
    {
        { "path", Codecs.String, o => o.Path, (o, v) => o.Path = v },
        { "type", Codecs.String, o => o.Type, (o, v) => o.Type = v },
        { "major", Codecs.Int64, o => o.Major, (o, v) => o.Major = v },
        { "minor", Codecs.Int64, o => o.Minor, (o, v) => o.Minor = v },
        { "fileMode", Codecs.NullableUInt32, o => o.FileMode, (o, v) => o.FileMode = v },
        { "uid", Codecs.NullableUInt32, o => o.Uid, (o, v) => o.Uid = v },
        { "gid", Codecs.NullableUInt32, o => o.Gid, (o, v) => o.Gid = v },
    };

    public static readonly ObjectCodec<LinuxPersonality> LinuxPersonality = new(() => new())
    {
        { "domain", Codecs.String, o => o.Domain, (o, v) => o.Domain = v },
        { "flags", Codecs.StringList, o => o.Flags, (o, v) => o.Flags = v },
    };

    public static readonly ObjectCodec<LinuxDeviceCgroup> LinuxDeviceCgroup = new(() => new())
    {
        { "allow", Codecs.Bool, o => o.Allow, (o, v) => o.Allow = v },
        { "type", Codecs.String, o => o.Type, (o, v) => o.Type = v },
        { "major", Codecs.NullableInt64, o => o.Major, (o, v) => o.Major = v },
        { "minor", Codecs.NullableInt64, o => o.Minor, (o, v) => o.Minor = v },
        { "access", Codecs.String, o => o.Access, (o, v) => o.Access = v },
    };

    public static readonly ObjectCodec<LinuxMemory> LinuxMemory = new(() => new())
    {
        { "limit", Codecs.NullableInt64, o => o.Limit, (o, v) => o.Limit = v },
        { "reservation", Codecs.NullableInt64, o => o.Reservation, (o, v) => o.Reservation = v },
        { "swap", Codecs.NullableInt64, o => o.Swap, (o, v) => o.Swap = v },
        { "kernel", Codecs.NullableInt64, o => o.Kernel, (o, v) => o.Kernel = v },
        { "kernelTCP", Codecs.NullableInt64, o => o.KernelTcp, (o, v) => o.KernelTcp = v },
        { "swappiness", Codecs.NullableUInt64, o => o.Swappiness, (o, v) => o.Swappiness = v },
        { "disableOOMKiller", Codecs.NullableBool, o => o.DisableOomKiller, (o, v) => o.DisableOomKiller = v },
        { "useHierarchy", Codecs.NullableBool, o => o.UseHierarchy, (o, v) => o.UseHierarchy = v },
        { "checkBeforeUpdate", Codecs.NullableBool, o => o.CheckBeforeUpdate, (o, v) => o.CheckBeforeUpdate = v },
    };

    public static readonly ObjectCodec<LinuxCpu> LinuxCpu = new(() => new())
    {
        { "shares", Codecs.NullableUInt64, o => o.Shares, (o, v) => o.Shares = v },
        { "quota", Codecs.NullableInt64, o => o.Quota, (o, v) => o.Quota = v },
        { "burst", Codecs.NullableInt64, o => o.Burst, (o, v) => o.Burst = v },
        { "period", Codecs.NullableUInt64, o => o.Period, (o, v) => o.Period = v },
        { "realtimeRuntime", Codecs.NullableInt64, o => o.RealtimeRuntime, (o, v) => o.RealtimeRuntime = v },
        { "realtimePeriod", Codecs.NullableUInt64, o => o.RealtimePeriod, (o, v) => o.RealtimePeriod = v },
        { "cpus", Codecs.String, o => o.Cpus, (o, v) => o.Cpus = v },
        { "mems", Codecs.String, o => o.Mems, (o, v) => o.Mems = v },
        { "idle", Codecs.NullableInt64, o => o.Idle, (o, v) => o.Idle = v },
    };

    public static readonly ObjectCodec<LinuxPids> LinuxPids = new(() => new())
    {
        { "limit", Codecs.Int64, o => o.Limit, (o, v) => o.Limit = v },
    };

    public static readonly ObjectCodec<LinuxWeightDevice> LinuxWeightDevice = new(() => new())
    {
        { "major", Codecs.Int64, o => o.Major, (o, v) => o.Major = v },
        { "minor", Codecs.Int64, o => o.Minor, (o, v) => o.Minor = v },
        { "weight", Codecs.NullableUInt16, o => o.Weight, (o, v) => o.Weight = v },
        { "leafWeight", Codecs.NullableUInt16, o => o.LeafWeight, (o, v) => o.LeafWeight = v },
    };

    public static readonly ObjectCodec<LinuxThrottleDevice> LinuxThrottleDevice = new(() => new())
    {
        { "major", Codecs.Int64, o => o.Major, (o, v) => o.Major = v },
        { "minor", Codecs.Int64, o => o.Minor, (o, v) => o.Minor = v },
        { "rate", Codecs.UInt64, o => o.Rate, (o, v) => o.Rate = v },
    };

    static readonly JsonCodec<List<LinuxThrottleDevice>> ThrottleDevices = Codecs.ListOf(LinuxThrottleDevice);

    public static readonly ObjectCodec<LinuxBlockIO> LinuxBlockIO = new(() => new())
    {
        { "weight", Codecs.NullableUInt16, o => o.Weight, (o, v) => o.Weight = v },
        { "leafWeight", Codecs.NullableUInt16, o => o.LeafWeight, (o, v) => o.LeafWeight = v },
        { "weightDevice", Codecs.ListOf(LinuxWeightDevice), o => o.WeightDevice, (o, v) => o.WeightDevice = v },
        { "throttleReadBpsDevice", ThrottleDevices, o => o.ThrottleReadBpsDevice, (o, v) => o.ThrottleReadBpsDevice = v },
        { "throttleWriteBpsDevice", ThrottleDevices, o => o.ThrottleWriteBpsDevice, (o, v) => o.ThrottleWriteBpsDevice = v },
        { "throttleReadIOPSDevice", ThrottleDevices, o => o.ThrottleReadIopsDevice, (o, v) => o.ThrottleReadIopsDevice = v },
        { "throttleWriteIOPSDevice", ThrottleDevices, o => o.ThrottleWriteIopsDevice, (o, v) => o.ThrottleWriteIopsDevice = v },
    };

    public static readonly ObjectCodec<LinuxHugepageLimit> LinuxHugepageLimit = new(() => new())
    {
        { "pageSize", Codecs.String, o => o.PageSize, (o, v) => o.PageSize = v },
        { "limit", Codecs.UInt64, o => o.Limit, (o, v) => o.Limit = v },
    };

    public static readonly ObjectCodec<LinuxInterfacePriority> LinuxInterfacePriority = new(() => new())
    {
        { "name", Codecs.String, o => o.Name, (o, v) => o.Name = v },
        { "priority", Codecs.UInt32, o => o.Priority, (o, v) => o.Priority = v },
    };

    public static readonly ObjectCodec<LinuxNetwork> LinuxNetwork = new(() => new())
    {
        { "classID", Codecs.NullableUInt32, o => o.ClassId, (o, v) => o.ClassId = v },
        { "priorities", Codecs.ListOf(LinuxInterfacePriority), o => o.Priorities, (o, v) => o.Priorities = v },
    };

    public static readonly ObjectCodec<LinuxResources> LinuxResources = new(() => new())
    {
        { "devices", Codecs.ListOf(LinuxDeviceCgroup), o => o.Devices, (o, v) => o.Devices = v },
        { "memory", LinuxMemory, o => o.Memory, (o, v) => o.Memory = v },
        { "cpu", LinuxCpu, o => o.Cpu, (o, v) => o.Cpu = v },
        { "pids", LinuxPids, o => o.Pids, (o, v) => o.Pids = v },
        { "blockIO", LinuxBlockIO, o => o.BlockIO, (o, v) => o.BlockIO = v },
        { "hugepageLimits", Codecs.ListOf(LinuxHugepageLimit), o => o.HugepageLimits, (o, v) => o.HugepageLimits = v },
        { "network", LinuxNetwork, o => o.Network, (o, v) => o.Network = v },
        { "unified", Codecs.StringMap, o => o.Unified, (o, v) => o.Unified = v },
    };

    public static readonly ObjectCodec<LinuxSeccompArg> LinuxSeccompArg = new(() => new())
    {
        { "index", Codecs.UInt32, o => o.Index, (o, v) => o.Index = v },
        { "value", Codecs.UInt64, o => o.Value, (o, v) => o.Value = v },
        { "valueTwo", Codecs.NullableUInt64, o => o.ValueTwo, (o, v) => o.ValueTwo = v },
        { "op", Codecs.String, o => o.Op, (o, v) => o.Op = v },
    };

    public static readonly ObjectCodec<LinuxSyscall> LinuxSyscall = new(() => new())
    {
        { "names", Codecs.StringList, o => o.Names, (o, v) => o.Names = v },
        { "action", Codecs.String, o => o.Action, (o, v) => o.Action = v },
        { "errnoRet", Codecs.NullableUInt32, o => o.ErrnoRet, (o, v) => o.ErrnoRet = v },
        { "args", Codecs.ListOf(LinuxSeccompArg), o => o.Args, (o, v) => o.Args = v },
    };

    public static readonly ObjectCodec<LinuxSeccomp> LinuxSeccomp = new(() => new())
    {
        { "defaultAction", Codecs.String, o => o.DefaultAction, (o, v) => o.DefaultAction = v },
        { "defaultErrnoRet", Codecs.NullableUInt32, o => o.DefaultErrnoRet, (o, v) => o.DefaultErrnoRet = v },
        { "architectures", Codecs.StringList, o => o.Architectures, (o, v) => o.Architectures = v },
        { "flags", Codecs.StringList, o => o.Flags, (o, v) => o.Flags = v },
        { "listenerPath", Codecs.String, o => o.ListenerPath, (o, v) => o.ListenerPath = v },
        { "listenerMetadata", Codecs.String, o => o.ListenerMetadata, (o, v) => o.ListenerMetadata = v },
        { "syscalls", Codecs.ListOf(LinuxSyscall), o => o.Syscalls, (o, v) => o.Syscalls = v },
    };

    public static readonly ObjectCodec<Linux> Linux = new(() => new())
    {
        { "uidMappings", IdMappings, o => o.UidMappings, (o, v) => o.UidMappings = v },
        { "gidMappings", IdMappings, o => o.GidMappings, (o, v) => o.GidMappings = v },
        { "sysctl", Codecs.StringMap, o => o.Sysctl, (o, v) => o.Sysctl = v },
        { "resources", LinuxResources, o => o.Resources, (o, v) => o.Resources = v },
        { "cgroupsPath", Codecs.String, o => o.CgroupsPath, (o, v) => o.CgroupsPath = v },
        { "namespaces", Codecs.ListOf(LinuxNamespace), o => o.Namespaces, (o, v) => o.Namespaces = v },
        { "devices", Codecs.ListOf(LinuxDevice), o => o.Devices, (o, v) => o.Devices = v },
        { "seccomp", LinuxSeccomp, o => o.Seccomp, (o, v) => o.Seccomp = v },
        { "rootfsPropagation", Codecs.String, o => o.RootfsPropagation, (o, v) => o.RootfsPropagation = v },
        { "maskedPaths", Codecs.StringList, o => o.MaskedPaths, (o, v) => o.MaskedPaths = v },
        { "readonlyPaths", Codecs.StringList, o => o.ReadonlyPaths, (o, v) => o.ReadonlyPaths = v },
        { "mountLabel", Codecs.String, o => o.MountLabel, (o, v) => o.MountLabel = v },
        { "personality", LinuxPersonality, o => o.Personality, (o, v) => o.Personality = v },
    };

    public static readonly ObjectCodec<Spec> Spec = new(() => new())
    {
        { "ociVersion", Codecs.String, o => o.OciVersion, (o, v) => o.OciVersion = v },
        { "process", Process, o => o.Process, (o, v) => o.Process = v },
        { "root", Root, o => o.Root, (o, v) => o.Root = v },
        { "hostname", Codecs.String, o => o.Hostname, (o, v) => o.Hostname = v },
        { "domainname", Codecs.String, o => o.Domainname, (o, v) => o.Domainname = v },
        { "mounts", Codecs.ListOf(Mount), o => o.Mounts, (o, v) => o.Mounts = v },
        { "hooks", Hooks, o => o.Hooks, (o, v) => o.Hooks = v },
        { "annotations", Codecs.StringMap, o => o.Annotations, (o, v) => o.Annotations = v },
        { "linux", Linux, o => o.Linux, (o, v) => o.Linux = v },
    };
}
