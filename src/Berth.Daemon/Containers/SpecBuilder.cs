using Berth.Daemon.Engine;
using Berth.Runtime;
using Berth.Runtime.Oci;
using Berth.Runtime.Seccomp;

namespace Berth.Daemon.Containers;

/// <summary>
/// Translates a Docker container (Config + HostConfig) into the OCI runtime spec the execdriver
/// runs: Docker's defaults for mounts, capabilities and masked paths, the resolved user, the
/// container's hostname/hosts/resolv.conf files, and its cgroup and resource limits.
/// </summary>
public static class SpecBuilder
{
    public sealed record Files(string HostnamePath, string HostsPath, string ResolvConfPath);

    /// <param name="joinNetns">For --network container:X: X's network namespace, joined instead of a new one.</param>
    /// <param name="linkEnv">The variables of the container's --link targets; its own environment overrides them.</param>
    public static Spec Build(ContainerRecord c, string rootfs, ResolvedUser user, Files files, string? joinNetns = null, IReadOnlyList<string>? linkEnv = null)
    {
        var cfg = c.Config;
        var host = c.HostConfig;
        var spec = DefaultSpec.Create(new[] { c.Path }.Concat(c.Args).ToList(), cfg.Tty, rootfs);
        var p = spec.Process!;
        var hostname = string.IsNullOrEmpty(cfg.Hostname) ? c.Id[..12] : cfg.Hostname;
        p.Env = BuildEnv(cfg, user, hostname, linkEnv);
        p.Cwd = string.IsNullOrEmpty(cfg.WorkingDir) ? "/" : cfg.WorkingDir;
        p.User = new User { Uid = user.Uid, Gid = user.Gid, AdditionalGids = user.AdditionalGids.Count > 0 ? user.AdditionalGids.ToList() : null };
        // Docker leaves rlimits to the daemon's own unless --ulimit says otherwise; so does Berth.
        p.Rlimits = host.Ulimits?.Select(u => new Rlimit { Type = "RLIMIT_" + u.Name.ToUpperInvariant(), Soft = (ulong)u.Soft, Hard = (ulong)u.Hard }).ToList();
        var security = SecurityOptions.Parse(host.SecurityOpt);
        p.NoNewPrivileges = security.NoNewPrivileges;
        if (cfg.Tty && host.ConsoleSize is { Count: 2 } size && size[0] > 0 && size[1] > 0)
            p.ConsoleSize = new Box { Height = (uint)size[0], Width = (uint)size[1] };
        p.Capabilities = BuildCapabilities(host);
        if (host.OomScoreAdj != 0) p.OomScoreAdj = host.OomScoreAdj;

        spec.Hostname = hostname;
        if (!string.IsNullOrEmpty(cfg.Domainname)) spec.Domainname = cfg.Domainname;
        spec.Root!.Readonly = host.ReadonlyRootfs;

        var mounts = spec.Mounts!;
        mounts.Add(Bind(files.ResolvConfPath, "/etc/resolv.conf"));
        mounts.Add(Bind(files.HostnamePath, "/etc/hostname"));
        mounts.Add(Bind(files.HostsPath, "/etc/hosts"));
        if (host.ShmSize > 0)
            mounts.Find(m => m.Destination == "/dev/shm")!.Options = ["nosuid", "noexec", "nodev", "mode=1777", $"size={host.ShmSize}"];
        if (host.Tmpfs is not null)
            foreach (var (dest, opts) in host.Tmpfs)
                mounts.Add(new Mount { Destination = dest, Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "nodev", "noexec", .. opts.Split(',', StringSplitOptions.RemoveEmptyEntries)] });

        var linux = spec.Linux!;
        if (host.NetworkMode == "host") linux.Namespaces!.RemoveAll(n => n.Type == "network");
        else if (joinNetns is not null) linux.Namespaces!.Find(n => n.Type == "network")!.Path = joinNetns;
        if (host.PidMode == "host") linux.Namespaces!.RemoveAll(n => n.Type == "pid");
        if (host.IpcMode == "host") linux.Namespaces!.RemoveAll(n => n.Type == "ipc");
        if (host.UTSMode == "host") linux.Namespaces!.RemoveAll(n => n.Type == "uts");
        if (host.Privileged)
        {
            linux.MaskedPaths = null;
            linux.ReadonlyPaths = null;
            mounts.Find(m => m.Destination == "/sys")!.Options = ["nosuid", "noexec", "nodev"];
        }
        else
        {
            if (host.MaskedPaths is not null) linux.MaskedPaths = host.MaskedPaths;
            if (host.ReadonlyPaths is not null) linux.ReadonlyPaths = host.ReadonlyPaths;
        }
        if (host.Sysctls is { Count: > 0 }) linux.Sysctl = new Dictionary<string, string>(host.Sysctls);
        linux.CgroupsPath = CgroupsPath(c);
        linux.Resources = BuildResources(host);
        if (Devices(host) is { } devices) linux.Devices = [.. linux.Devices ?? [], .. devices];
        linux.Seccomp = BuildSeccomp(host, security.Seccomp, p.Capabilities.Bounding ?? []);
        spec.Annotations = new Dictionary<string, string> { ["org.berth.container.name"] = c.Name.TrimStart('/') };
        return spec;
    }

    /// <summary>
    /// Docker's rules: no filter for --privileged or seccomp=unconfined; the profile the CLI read from
    /// seccomp=FILE (it sends the file's JSON); otherwise the default profile. Either is resolved
    /// against the container's capabilities.
    /// </summary>
    static LinuxSeccomp? BuildSeccomp(Api.HostConfig host, string? profile, IReadOnlyCollection<string> capabilities)
    {
        if (host.Privileged || profile == "unconfined") return null;
        if (profile is null) return DefaultSeccompProfile.Create().ToOci(capabilities);
        try
        {
            var oci = DockerSeccompProfile.Parse(profile).ToOci(capabilities);
            // Compiled here too, so a bad profile is refused with a clear message before anything starts.
            SeccompCompiler.Compile(oci);
            return oci;
        }
        catch (RuntimeException e)
        {
            // An ApiException, not an ArgumentException: start's --rm cleanup only handles the former.
            throw new ApiException(400, e.Message, e);
        }
    }

    static Mount Bind(string source, string dest) =>
        new() { Destination = dest, Type = "bind", Source = source, Options = ["rbind", "rprivate"] };

    /// <summary>The container's environment: its links' variables, its own, then PATH, HOSTNAME, HOME and TERM where unset.</summary>
    public static List<string> BuildEnv(Api.ContainerConfig cfg, ResolvedUser user, string hostname, IReadOnlyList<string>? linkEnv = null)
    {
        var env = new List<string>();
        bool Has(string key) => env.Any(e => e.StartsWith(key + "=", StringComparison.Ordinal));
        foreach (var e in (linkEnv ?? []).Concat(cfg.Env ?? new()))
        {
            var key = e.Split('=', 2)[0];
            env.RemoveAll(x => x.Split('=', 2)[0] == key);
            env.Add(e);
        }
        if (!Has("PATH")) env.Insert(0, DefaultSpec.DefaultPath);
        if (!Has("HOSTNAME")) env.Add("HOSTNAME=" + hostname);
        if (cfg.Tty && !Has("TERM")) env.Add("TERM=xterm");
        if (!Has("HOME")) env.Add("HOME=" + user.Home);
        return env;
    }

    static Capabilities BuildCapabilities(Api.HostConfig host)
    {
        List<string> caps;
        if (host.Privileged) caps = AllCapabilities.ToList();
        else
        {
            caps = DefaultSpec.DefaultCapabilities.ToList();
            foreach (var add in host.CapAdd ?? new())
            {
                var name = Normalize(add);
                if (name == "CAP_ALL") { caps = AllCapabilities.ToList(); continue; }
                if (!AllCapabilities.Contains(name)) throw new ArgumentException($"unknown capability: \"{add}\"");
                if (!caps.Contains(name)) caps.Add(name);
            }
            foreach (var drop in host.CapDrop ?? new())
            {
                var name = Normalize(drop);
                if (name == "CAP_ALL") { caps.Clear(); continue; }
                if (!AllCapabilities.Contains(name)) throw new ArgumentException($"unknown capability: \"{drop}\"");
                caps.Remove(name);
            }
        }
        return new Capabilities { Bounding = caps, Effective = caps.ToList(), Permitted = caps.ToList() };
    }

    static string Normalize(string cap)
    {
        cap = cap.ToUpperInvariant();
        return cap.StartsWith("CAP_", StringComparison.Ordinal) ? cap : "CAP_" + cap;
    }

    /// <summary>The container's cgroup, relative to each hierarchy: under --cgroup-parent, else /berth.</summary>
    public static string CgroupsPath(ContainerRecord c) =>
        (string.IsNullOrEmpty(c.HostConfig.CgroupParent) ? DefaultCgroupParent : c.HostConfig.CgroupParent.TrimEnd('/')) + "/" + c.Id;

    public const string DefaultCgroupParent = "/berth";

    /// <summary>
    /// HostConfig's resource fields as OCI resources. Used at create and again by <c>update</c>, so
    /// a field left at zero means "not set" here, as in Docker's API.
    /// </summary>
    public static LinuxResources BuildResources(Api.HostConfig h)
    {
        var r = new LinuxResources { Devices = DeviceRules(h) };
        if (h.Memory > 0 || h.MemoryReservation > 0 || h.MemorySwap != 0 || h.MemorySwappiness is >= 0 || h.OomKillDisable == true)
            r.Memory = new LinuxMemory
            {
                Limit = h.Memory > 0 ? h.Memory : null,
                Reservation = h.MemoryReservation > 0 ? h.MemoryReservation : null,
                // Docker's default: as much swap as memory (memory+swap = 2x), when a limit is set.
                Swap = h.MemorySwap != 0 ? h.MemorySwap : (h.Memory > 0 ? h.Memory * 2 : null),
                Swappiness = h.MemorySwappiness is >= 0 and var sw ? (ulong)sw : null,
                DisableOomKiller = h.OomKillDisable == true ? true : null,
            };
        if (h.CpuShares > 0 || h.CpuQuota != 0 || h.CpuPeriod > 0 || h.NanoCpus > 0 || h.CpusetCpus.Length > 0 || h.CpusetMems.Length > 0
            || h.CpuRealtimePeriod > 0 || h.CpuRealtimeRuntime > 0)
        {
            r.Cpu = new LinuxCpu
            {
                Shares = h.CpuShares > 0 ? (ulong)h.CpuShares : null,
                Cpus = h.CpusetCpus.Length > 0 ? h.CpusetCpus : null,
                Mems = h.CpusetMems.Length > 0 ? h.CpusetMems : null,
                RealtimePeriod = h.CpuRealtimePeriod > 0 ? (ulong)h.CpuRealtimePeriod : null,
                RealtimeRuntime = h.CpuRealtimeRuntime > 0 ? h.CpuRealtimeRuntime : null,
            };
            if (h.NanoCpus > 0) { r.Cpu.Period = 100_000; r.Cpu.Quota = h.NanoCpus / 10_000; }
            else
            {
                if (h.CpuQuota != 0) r.Cpu.Quota = h.CpuQuota;
                if (h.CpuPeriod > 0 || h.CpuQuota > 0) r.Cpu.Period = h.CpuPeriod > 0 ? (ulong)h.CpuPeriod : 100_000;
            }
        }
        if (h.PidsLimit is { } pids and not 0) r.Pids = new LinuxPids { Limit = pids };
        if (h.BlkioWeight > 0 || h.BlkioWeightDevice is { Count: > 0 } || h.BlkioDeviceReadBps is { Count: > 0 } || h.BlkioDeviceWriteBps is { Count: > 0 }
            || h.BlkioDeviceReadIOps is { Count: > 0 } || h.BlkioDeviceWriteIOps is { Count: > 0 })
            r.BlockIO = new LinuxBlockIO
            {
                Weight = h.BlkioWeight > 0 ? checked((ushort)h.BlkioWeight) : null,
                WeightDevice = h.BlkioWeightDevice?.Select(d => { var n = DeviceNode(d.Path); return new LinuxWeightDevice { Major = n.Major, Minor = n.Minor, Weight = d.Weight }; }).ToList(),
                ThrottleReadBpsDevice = Throttles(h.BlkioDeviceReadBps),
                ThrottleWriteBpsDevice = Throttles(h.BlkioDeviceWriteBps),
                ThrottleReadIopsDevice = Throttles(h.BlkioDeviceReadIOps),
                ThrottleWriteIopsDevice = Throttles(h.BlkioDeviceWriteIOps),
            };
        return r;
    }

    /// <summary>Throws the error start would give for a bad device path, rule or permission.</summary>
    public static void ValidateResources(Api.HostConfig h)
    {
        BuildResources(h);
        Devices(h);
    }

    static List<LinuxThrottleDevice>? Throttles(List<Api.ThrottleDevice>? devices) =>
        devices?.Select(d => { var n = DeviceNode(d.Path); return new LinuxThrottleDevice { Major = n.Major, Minor = n.Minor, Rate = d.Rate }; }).ToList();

    /// <summary>
    /// Deny everything, then allow what --device and --device-cgroup-rule name (the runtime appends
    /// the devices every container gets). Privileged containers may use every device.
    /// </summary>
    static List<LinuxDeviceCgroup> DeviceRules(Api.HostConfig h)
    {
        if (h.Privileged) return [new LinuxDeviceCgroup { Allow = true, Access = "rwm" }];
        var rules = new List<LinuxDeviceCgroup> { new() { Allow = false, Access = "rwm" } };
        foreach (var d in h.Devices ?? [])
        {
            var n = DeviceNode(d.PathOnHost);
            rules.Add(new LinuxDeviceCgroup { Allow = true, Type = n.Type, Major = n.Major, Minor = n.Minor, Access = Permissions(d.CgroupPermissions) });
        }
        foreach (var rule in h.DeviceCgroupRules ?? []) rules.Add(ParseCgroupRule(rule));
        return rules;
    }

    static string Permissions(string p)
    {
        if (p.Length == 0) return "rwm";
        if (p.Any(ch => ch is not ('r' or 'w' or 'm'))) throw ApiException.BadRequest($"invalid device cgroup permissions \"{p}\": use a combination of r, w and m");
        return p;
    }

    /// <summary>A --device-cgroup-rule: "c 1:3 rwm", "b 8:* r", "a *:* rwm".</summary>
    internal static LinuxDeviceCgroup ParseCgroupRule(string rule)
    {
        var bad = ApiException.BadRequest($"invalid device cgroup rule \"{rule}\": expected TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm'");
        var f = rule.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length != 3 || f[0] is not ("a" or "b" or "c")) throw bad;
        var mm = f[1].Split(':');
        if (mm.Length != 2) throw bad;
        long? Num(string x) => x == "*" ? null : long.TryParse(x, out var v) && v >= 0 ? v : throw bad;
        if (f[2].Length == 0 || f[2].Any(ch => ch is not ('r' or 'w' or 'm'))) throw bad;
        return new LinuxDeviceCgroup { Allow = true, Type = f[0], Major = Num(mm[0]), Minor = Num(mm[1]), Access = f[2] };
    }

    /// <summary>The OCI device entries for --device, so the runtime creates the nodes in the container's /dev.</summary>
    static List<LinuxDevice>? Devices(Api.HostConfig h) =>
        h.Devices is not { Count: > 0 } devices ? null
            : devices.Select(d =>
            {
                var n = DeviceNode(d.PathOnHost);
                var target = d.PathInContainer.Length > 0 ? d.PathInContainer : d.PathOnHost;
                if (!target.StartsWith('/')) throw ApiException.BadRequest($"device path in the container \"{target}\" must be absolute");
                return new LinuxDevice { Path = target, Type = n.Type, Major = n.Major, Minor = n.Minor, FileMode = n.Mode, Uid = 0, Gid = 0 };
            }).ToList();

    /// <summary>Major, minor and type of the device node at a host path (symlinks followed, as /dev/disk/by-id uses them).</summary>
    static (string Type, long Major, long Minor, uint Mode) DeviceNode(string path)
    {
        if (Berth.Interop.LibC.StatxCall(Berth.Interop.LibC.AT_FDCWD, path, 0, Berth.Interop.LibC.STATX_BASIC_STATS, out var st) != 0)
            throw ApiException.BadRequest($"error gathering device information while adding custom device \"{path}\": no such file or directory");
        var type = st.FileType switch
        {
            Berth.Interop.LibC.S_IFCHR => "c",
            Berth.Interop.LibC.S_IFBLK => "b",
            _ => throw ApiException.BadRequest($"error gathering device information while adding custom device \"{path}\": not a device node"),
        };
        return (type, st.RdevMajor, st.RdevMinor, st.Mode & 0xFFFu);
    }

    /// <summary>Every capability this kernel generation knows; Docker accepts these names for --cap-add.</summary>
    public static readonly IReadOnlyList<string> AllCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];
}
