namespace Berth.Runtime.Oci;

/// <summary>
/// The spec `berth-runc spec` writes and the daemon starts from: runc's default layout with
/// Docker's default capability set and masked/read-only paths.
/// </summary>
public static class DefaultSpec
{
    /// <summary>Docker's default capabilities (moby oci/caps/defaults.go).</summary>
    public static readonly IReadOnlyList<string> DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    public static readonly IReadOnlyList<string> MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    public static readonly IReadOnlyList<string> ReadonlyPaths =
    [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ];

    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <param name="args">The process command; runc's default is <c>sh</c>.</param>
    /// <param name="terminal">Whether the process gets a pty.</param>
    /// <param name="rootPath">root.path, relative to the bundle.</param>
    public static Spec Create(IReadOnlyList<string>? args = null, bool terminal = false, string rootPath = "rootfs") => new()
    {
        Process = new Process
        {
            Terminal = terminal,
            User = new User { Uid = 0, Gid = 0 },
            Args = args is { Count: > 0 } ? [.. args] : ["sh"],
            Env = [DefaultPath, "TERM=xterm"],
            Cwd = "/",
            Capabilities = new Capabilities
            {
                Bounding = [.. DefaultCapabilities],
                Effective = [.. DefaultCapabilities],
                Permitted = [.. DefaultCapabilities],
            },
            Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
            NoNewPrivileges = true,
        },
        Root = new Root { Path = rootPath, Readonly = false },
        Hostname = "berth",
        Mounts =
        [
            new Mount { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] },
            new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
            new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
        ],
        Linux = new Linux
        {
            Resources = new LinuxResources { Devices = [new LinuxDeviceCgroup { Allow = false, Access = "rwm" }] },
            Namespaces =
            [
                new LinuxNamespace { Type = "pid" }, new LinuxNamespace { Type = "network" },
                new LinuxNamespace { Type = "ipc" }, new LinuxNamespace { Type = "uts" },
                new LinuxNamespace { Type = "mount" },
            ],
            MaskedPaths = [.. MaskedPaths],
            ReadonlyPaths = [.. ReadonlyPaths],
        },
    };
}
