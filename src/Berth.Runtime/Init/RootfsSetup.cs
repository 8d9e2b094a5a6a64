using Berth.Interop;
using Berth.Runtime.Oci;

namespace Berth.Runtime.Init;

/// <summary>
/// Builds the container's filesystem view inside init's fresh mount namespace: propagation,
/// the rootfs bind, the spec's mounts, /dev, pivot_root (<see cref="Prepare"/>); then, once init
/// has made the console, masked and read-only paths (<see cref="Finish"/>).
/// </summary>
static class RootfsSetup
{
    record DefaultDevice(string Name, uint Major, uint Minor);

    static readonly DefaultDevice[] DefaultDevices =
    [
        new("null", 1, 3), new("zero", 1, 5), new("full", 1, 7), new("random", 1, 8), new("urandom", 1, 9), new("tty", 5, 0),
    ];

    /// <summary>Everything up to and including pivot_root; <paramref name="beforePivot"/> runs with the mounts in place.</summary>
    public static void Prepare(InitConfig config, Action beforePivot)
    {
        var spec = config.Spec;
        var rootfs = config.Rootfs;
        Mount(null, "/", null, MountOptions.RootPropagation(spec.Linux?.RootfsPropagation), null);
        // pivot_root needs the new root to be a mount point.
        Mount(rootfs, rootfs, null, LibC.MS_BIND | LibC.MS_REC, null);

        foreach (var m in spec.Mounts ?? []) MountOne(config, m);
        if (spec.Mounts?.Any(m => m.Destination == "/dev" && !MountOptions.Parse(m.Options, m.Type).Bind) == true)
            PopulateDev(rootfs, spec);
        else foreach (var d in spec.Linux?.Devices ?? []) CreateDevice(rootfs, d);

        beforePivot();
        PivotRoot(rootfs);
    }

    /// <summary>The last steps, after the console exists: they may make /dev or / read-only.</summary>
    public static void Finish(Spec spec)
    {
        if (spec.Root?.Readonly == true) Remount("/", LibC.MS_RDONLY);
        foreach (var path in spec.Linux?.MaskedPaths ?? []) Mask(path);
        foreach (var path in spec.Linux?.ReadonlyPaths ?? []) MakeReadonly(path);
    }

    static void MountOne(InitConfig config, Oci.Mount m)
    {
        var o = MountOptions.Parse(m.Options, m.Type);
        var dest = PathResolver.SecureJoin(config.Rootfs, m.Destination);
        if (o.Bind)
        {
            var source = Path.GetFullPath(m.Source ?? throw new RuntimeException($"bind mount on {m.Destination} has no source"), config.BundleDir);
            if (Directory.Exists(source)) Directory.CreateDirectory(dest);
            else if (File.Exists(source)) CreateFile(dest);
            else throw new RuntimeException($"bind mount source {source} does not exist");
            Mount(source, dest, null, LibC.MS_BIND | (o.Flags & LibC.MS_REC), null);
            var extra = o.Flags & ~(LibC.MS_REC | LibC.MS_REMOUNT);
            if (extra != 0) Remount(dest, extra);
        }
        else if (m.Type == "cgroup") MountCgroup(dest, o, OwnCgroup.Paths(config.Spec));
        else
        {
            Directory.CreateDirectory(dest);
            var source = m.Source ?? m.Type ?? "none";
            if (LibC.Mount(source, dest, m.Type, o.Flags, o.Data) == -1)
            {
                var e = SysException.FromLastError("mount", $"{source} on {dest}");
                // A sysfs instance belongs to a network namespace, and only a process privileged over that
                // namespace's user namespace may mount one: in a user namespace sharing the host's network
                // it can't. Bind the host's /sys instead, with the flags asked for, as runc does.
                if (m.Type != "sysfs" || e.Errno != Errno.EPERM) throw e;
                Mount("/sys", dest, null, LibC.MS_BIND | LibC.MS_REC, null);
                Remount(dest, o.Flags & (LibC.MS_RDONLY | LibC.MS_NOSUID | LibC.MS_NODEV | LibC.MS_NOEXEC));
            }
        }
        if (o.Propagation != 0) Mount(null, dest, null, o.Propagation, null);
    }

    /// <summary>
    /// cgroupfs for the container: cgroup2 on a unified host; on a v1 host, a tmpfs holding a bind of
    /// this container's directory from each hierarchy, the same layout runc gives.
    /// </summary>
    static void MountCgroup(string dest, MountOptions o, Dictionary<string, string> own)
    {
        Directory.CreateDirectory(dest);
        if (Cgroups.CgroupManager.IsUnified(Cgroups.CgroupManager.DefaultRoot))
        {
            Mount("cgroup2", dest, "cgroup2", o.Flags, null);
            return;
        }
        Mount("tmpfs", dest, "tmpfs", LibC.MS_NOSUID | LibC.MS_NODEV | LibC.MS_NOEXEC, "mode=755");
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            var halves = line.Split(" - ", 2);
            if (halves.Length != 2 || !halves[1].StartsWith("cgroup ", StringComparison.Ordinal)) continue;
            var mountPoint = halves[0].Split(' ')[4];
            var superOptions = halves[1].Split(' ')[2].Split(',');
            var key = own.Keys.FirstOrDefault(k => k.Length > 0 && k.Split(',').All(superOptions.Contains)
                || k.StartsWith("name=", StringComparison.Ordinal) && superOptions.Contains(k));
            if (key is null) continue;
            var target = Path.Combine(dest, Path.GetFileName(mountPoint));
            Directory.CreateDirectory(target);
            Mount(mountPoint + own[key], target, null, LibC.MS_BIND, null);
            Remount(target, o.Flags | LibC.MS_NOSUID | LibC.MS_NODEV | LibC.MS_NOEXEC);
        }
        foreach (var link in new DirectoryInfo(Cgroups.CgroupManager.DefaultRoot).EnumerateFileSystemInfos())
            if (link.LinkTarget is { } target && !Path.Exists(Path.Combine(dest, link.Name)))
                File.CreateSymbolicLink(Path.Combine(dest, link.Name), target);
        if ((o.Flags & LibC.MS_RDONLY) != 0) Remount(dest, LibC.MS_RDONLY | LibC.MS_NOSUID | LibC.MS_NODEV | LibC.MS_NOEXEC, bind: false);
    }

    static void PopulateDev(string rootfs, Spec spec)
    {
        var dev = Path.Combine(rootfs, "dev");
        foreach (var d in DefaultDevices)
            CreateDevice(rootfs, new LinuxDevice { Path = "/dev/" + d.Name, Type = "c", Major = d.Major, Minor = d.Minor, FileMode = 0x1b6 /* 0666 */ });
        foreach (var d in spec.Linux?.Devices ?? []) CreateDevice(rootfs, d);
        (string Name, string Target)[] links =
        [
            ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
            ("core", "/proc/kcore"),
        ];
        foreach (var (name, target) in links)
            if (!Path.Exists(Path.Combine(dev, name))) File.CreateSymbolicLink(Path.Combine(dev, name), target);
        if (Directory.Exists(Path.Combine(dev, "pts")))
        {
            var ptmx = Path.Combine(dev, "ptmx");
            if (Path.Exists(ptmx) || new FileInfo(ptmx).LinkTarget is not null) File.Delete(ptmx);
            File.CreateSymbolicLink(ptmx, "pts/ptmx");
        }
    }

    /// <summary>mknod, falling back to a bind of the host's node where mknod is refused.</summary>
    static void CreateDevice(string rootfs, LinuxDevice d)
    {
        var path = PathResolver.SecureJoin(rootfs, d.Path);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var kind = d.Type switch
        {
            "c" or "u" => LibC.S_IFCHR, "b" => LibC.S_IFBLK, "p" => LibC.S_IFIFO,
            _ => throw new RuntimeException($"device {d.Path}: unknown type \"{d.Type}\""),
        };
        var mode = d.FileMode ?? 0x1b6;
        if (LibC.Mknod(path, kind | (mode & 0xfff), LibC.MakeDev((uint)d.Major, (uint)d.Minor)) == -1)
        {
            var e = SysException.FromLastError("mknod", path);
            if (e.Errno == Errno.EEXIST) return;
            if (e.Errno != Errno.EPERM || !Path.Exists(d.Path)) throw e;
            CreateFile(path);
            Mount(d.Path, path, null, LibC.MS_BIND, null);
            return;
        }
        File.SetUnixFileMode(path, (UnixFileMode)(mode & 0xfff));
        LibC.Check(LibC.chown(path, d.Uid ?? 0, d.Gid ?? 0), "chown", path);
    }

    /// <summary>Makes the container's pty slave its /dev/console, as runc does. Runs after pivot_root.</summary>
    public static void BindConsole(string slavePath)
    {
        CreateFile("/dev/console");
        Mount(slavePath, "/dev/console", null, LibC.MS_BIND, null);
    }

    static void PivotRoot(string rootfs)
    {
        // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the new root.
        Directory.SetCurrentDirectory(rootfs);
        LibC.Check(LibC.PivotRoot(".", "."), "pivot_root", rootfs);
        // Keep the detach from propagating to the host's mounts.
        Mount(null, ".", null, LibC.MS_SLAVE | LibC.MS_REC, null);
        LibC.Check(LibC.Umount2(".", LibC.MNT_DETACH), "umount2", "old root");
        Directory.SetCurrentDirectory("/");
    }

    static void Mask(string path)
    {
        if (Directory.Exists(path)) Mount("tmpfs", path, "tmpfs", LibC.MS_RDONLY, null);
        else if (Path.Exists(path)) Mount("/dev/null", path, null, LibC.MS_BIND, null);
    }

    static void MakeReadonly(string path)
    {
        if (!Path.Exists(path)) return;
        Mount(path, path, null, LibC.MS_BIND | LibC.MS_REC, null);
        Remount(path, LibC.MS_RDONLY | LibC.MS_NOSUID | LibC.MS_NODEV | LibC.MS_NOEXEC);
    }

    /// <summary>
    /// Changes the flags of an existing mount (for a bind: of that bind only). A bind keeps the
    /// read-only, nosuid, nodev and noexec flags it already has: in a user namespace the kernel
    /// locks those that came from the host's mounts, and refuses a remount that would clear them.
    /// </summary>
    static void Remount(string path, ulong flags, bool bind = true)
    {
        if (bind && LibC.Statfs(path, out var fs) == 0)
            flags |= (ulong)(fs.Flags & (LibC.ST_RDONLY | LibC.ST_NOSUID | LibC.ST_NODEV | LibC.ST_NOEXEC));
        Mount(null, path, null, LibC.MS_REMOUNT | (bind ? LibC.MS_BIND : 0) | flags, null);
    }

    static void CreateFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!Path.Exists(path)) File.WriteAllBytes(path, []);
    }

    static void Mount(string? source, string target, string? type, ulong flags, string? data) =>
        LibC.Check(LibC.Mount(source, target, type, flags, data), "mount", $"{source ?? type ?? "(remount)"} on {target}");
}
