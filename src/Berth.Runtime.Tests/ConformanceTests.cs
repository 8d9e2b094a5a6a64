using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Init;
using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// The runtime conformance suite: each case is an OCI spec; the conformance probe
/// (src/Berth.Conformance.Probe) runs as its process and reports what it sees, and one set of
/// assertions, derived from the spec alone, checks the report. Every case runs under berth-runc and
/// under Debian's runc: runc passing the same assertions shows the assertions are right.
/// </summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed class ConformanceTests(ProbeRootfs probe) : IClassFixture<ProbeRootfs>
{
    public sealed record Case(string Name, Action<Spec, ProbeRootfs> Change, int PreserveFds = 0, int MkdirErrno = 0);

    static readonly Case[] Cases =
    [
        new("default", (s, _) =>
        {
            // A cgroup namespace on top of the base spec's, and the rest of the process's identity.
            s.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "cgroup" });
            s.Hostname = "conformance";
            s.Domainname = "example.test";
            s.Process!.Cwd = "/work";
            s.Process.User.Umask = 0x17; // 027
            s.Process.Env!.Add("PROBE=yes");
        }),
        new("host-namespaces", (s, _) =>
        {
            s.Linux!.Namespaces!.RemoveAll(n => n.Type is "network" or "ipc" or "uts");
            // runc refuses a hostname without a UTS namespace of the container's own; Berth ignores it.
            s.Hostname = null;
        }),
        new("user-with-ambient-caps", (s, _) =>
        {
            s.Process!.User = new User { Uid = 1000, Gid = 1001, AdditionalGids = [10, 2000] };
            // Ambient caps must also be inheritable and permitted; runc does not add them (Berth does).
            List<string> ambient = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
            var c = s.Process.Capabilities!;
            c.Ambient = [.. ambient];
            c.Inheritable = [.. ambient];
            c.Effective = [.. ambient];
            c.Permitted = [.. ambient];
        }, MkdirErrno: Berth.Interop.Errno.EACCES /* / is root's, mode 755 */),
        new("caps-dropped-and-added", (s, _) =>
        {
            List<string> caps = [.. DefaultSpec.DefaultCapabilities.Where(c => c is not ("CAP_NET_RAW" or "CAP_MKNOD" or "CAP_SETFCAP")), "CAP_SYS_PTRACE", "CAP_NET_ADMIN"];
            s.Process!.Capabilities = new Capabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps], Inheritable = ["CAP_CHOWN"] };
        }),
        new("readonly-rootfs", (s, _) => s.Root!.Readonly = true, MkdirErrno: Berth.Interop.Errno.EROFS),
        new("masked-and-readonly-paths", (s, _) =>
        {
            s.Linux!.MaskedPaths = [.. DefaultSpec.MaskedPaths, "/etc/masked-file", "/masked-dir", "/no-such-path"];
            s.Linux.ReadonlyPaths = [.. DefaultSpec.ReadonlyPaths, "/ro-dir"];
        }),
        new("rlimits", (s, _) => s.Process!.Rlimits =
        [
            new Rlimit { Type = "RLIMIT_NOFILE", Soft = 512, Hard = 1000 },
            new Rlimit { Type = "RLIMIT_CORE", Soft = 0, Hard = 0 },
            new Rlimit { Type = "RLIMIT_MSGQUEUE", Soft = 4096, Hard = 8192 },
            new Rlimit { Type = "RLIMIT_NPROC", Soft = 300, Hard = 400 },
        ]),
        new("no-new-privileges-off", (s, _) => s.Process!.NoNewPrivileges = false),
        new("seccomp-profile", (s, _) => s.Linux!.Seccomp = new LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            Syscalls = [new LinuxSyscall { Names = ["mkdir", "mkdirat"], Action = "SCMP_ACT_ERRNO", ErrnoRet = (uint)Berth.Interop.Errno.EACCES }],
        }, MkdirErrno: Berth.Interop.Errno.EACCES),
        new("seccomp-without-no-new-privileges", (s, _) =>
        {
            s.Process!.NoNewPrivileges = false;
            s.Linux!.Seccomp = new LinuxSeccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW",
                Syscalls = [new LinuxSyscall { Names = ["mkdir", "mkdirat"], Action = "SCMP_ACT_ERRNO", ErrnoRet = (uint)Berth.Interop.Errno.EACCES }],
            };
        }, MkdirErrno: Berth.Interop.Errno.EACCES),
        new("sysctls", (s, _) => s.Linux!.Sysctl = new() { ["kernel.msgmax"] = "4096", ["net.ipv4.ip_forward"] = "1", ["kernel.shmmni"] = "1000" }),
        new("mounts-with-options", (s, p) => s.Mounts!.AddRange(
        [
            new Mount { Destination = "/data", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "nodev", "noexec", "size=1024k", "mode=1750"] },
            new Mount { Destination = "/mnt/bind-ro", Type = "bind", Source = p.SharedDir, Options = ["rbind", "ro", "nosuid", "rprivate"] },
            new Mount { Destination = "/mnt/bind-rw", Type = "bind", Source = p.SharedDir, Options = ["bind", "nodev", "private"] },
        ])),
        new("cgroup-limits", (s, _) => s.Linux!.Resources = Limits(s)),
        new("cgroup-limits-in-a-cgroup-namespace", (s, _) =>
        {
            s.Linux!.Resources = Limits(s);
            s.Linux.Namespaces!.Add(new LinuxNamespace { Type = "cgroup" });
        }),
        new("preserved-fds", (_, _) => { }, PreserveFds: 2),
    ];

    static LinuxResources Limits(Spec s) => new()
    {
        Devices = s.Linux!.Resources!.Devices,
        Memory = new LinuxMemory { Limit = 64 << 20 },
        Pids = new LinuxPids { Limit = 42 },
        Cpu = new LinuxCpu { Shares = 512, Quota = 50_000, Period = 100_000 },
    };

    public static TheoryData<string, string> Runs()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in Cases)
            foreach (var runtime in new[] { "berth-runc", "runc" }) data.Add(runtime, c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Probe_report_matches_the_spec(string runtime, string caseName)
    {
        var runtimePath = runtime == "runc" ? RequireDebianRunc() : TestRuntime.RequireRunc();
        probe.RequireProbe();
        var c = Cases.Single(x => x.Name == caseName);
        var id = "conf-" + Guid.NewGuid().ToString("N")[..10];
        var spec = BaseSpec(id);
        c.Change(spec, probe);

        var cgroupFiles = ExpectedCgroupFiles(spec.Linux!.Resources);
        var paths = (spec.Linux.MaskedPaths ?? []).Concat(spec.Linux.ReadonlyPaths ?? [])
            .Concat((spec.Linux.Sysctl ?? []).Keys.Select(SysctlPath)).Concat(cgroupFiles.Keys).Distinct().ToList();
        spec.Process!.Args = ["/probe", .. paths];

        var report = probe.Run(runtimePath, id, spec, c.PreserveFds);
        AssertMatches(runtime, spec, c, report);
        Assert.False(Directory.Exists("/sys/fs/cgroup/pids" + spec.Linux.CgroupsPath), "the container's cgroup is left behind");
    }

    /// <summary>What every case starts from: the default spec, with the cgroupfs mounted and a cgroup of its own.</summary>
    static Spec BaseSpec(string id)
    {
        var spec = DefaultSpec.Create(["/probe"]);
        spec.Linux!.CgroupsPath = "/berth-conformance-" + id;
        spec.Mounts!.Add(new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] });
        // runc sets HOME from the image's /etc/passwd (or "/") when the spec has none; Berth leaves the environment as given.
        spec.Process!.Env!.Add("HOME=/root");
        return spec;
    }

    static void AssertMatches(string runtime, Spec spec, Case c, JsonElement report)
    {
        var process = spec.Process!;
        var linux = spec.Linux!;

        // Namespaces: new where the spec asks for one, the host's otherwise.
        foreach (var ns in report.GetProperty("namespaces").EnumerateObject())
        {
            var type = ns.Name switch { "mnt" => "mount", "net" => "network", var n => n };
            var host = new FileInfo("/proc/self/ns/" + ns.Name).LinkTarget;
            if (linux.Namespaces!.Any(n => n.Type == type)) Assert.NotEqual(host, ns.Value.GetString());
            else Assert.Equal(host, ns.Value.GetString());
        }

        var status = report.GetProperty("status");
        string S(string key) => status.GetProperty(key).GetString()!;
        uint[] Ids(string key) => S(key).Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).Select(uint.Parse).ToArray();
        Assert.All(Ids("Uid"), id => Assert.Equal(process.User.Uid, id));
        Assert.All(Ids("Gid"), id => Assert.Equal(process.User.Gid, id));
        Assert.Equal((process.User.AdditionalGids ?? []).Distinct().Order(), Ids("Groups").Order());

        // Capabilities after execve of a file without file capabilities (capabilities(7)): root gets
        // its bounding and inheritable sets as permitted and effective; anyone else only the ambient set.
        var caps = process.Capabilities ?? new Capabilities();
        ulong M(List<string>? names) => Credentials.Mask(names, ulong.MaxValue);
        ulong bounding = M(caps.Bounding), inheritable = M(caps.Inheritable), ambient = M(caps.Ambient);
        var permitted = process.User.Uid == 0 ? bounding | inheritable | ambient : ambient;
        ulong Hex(string key) => ulong.Parse(S(key), NumberStyles.HexNumber);
        Assert.Equal(bounding, Hex("CapBnd"));
        Assert.Equal(inheritable, Hex("CapInh"));
        Assert.Equal(ambient, Hex("CapAmb"));
        Assert.Equal(permitted, Hex("CapPrm"));
        Assert.Equal(permitted, Hex("CapEff"));

        Assert.Equal(linux.Seccomp is null ? "0" : "2", S("Seccomp"));
        Assert.Equal(process.NoNewPrivileges ? "1" : "0", S("NoNewPrivs"));
        Assert.Equal(Convert.ToString(process.User.Umask ?? 0x12, 8).PadLeft(4, '0'), S("Umask"));
        Assert.Equal(c.MkdirErrno, report.GetProperty("mkdirErrno").GetInt32());

        if (linux.Namespaces!.Any(n => n.Type == "uts"))
        {
            Assert.Equal(spec.Hostname, report.GetProperty("hostname").GetString());
            // Debian's runc (1.1) predates domainname support and leaves the kernel's "(none)".
            if (runtime != "runc") Assert.Equal(spec.Domainname ?? "(none)", report.GetProperty("domainname").GetString());
        }
        Assert.Equal(process.Cwd, report.GetProperty("cwd").GetString());
        Assert.Equal(process.Env!.Order(StringComparer.Ordinal), report.GetProperty("env").EnumerateArray().Select(e => e.GetString()!));

        var rlimits = report.GetProperty("rlimits");
        foreach (var r in process.Rlimits ?? [])
        {
            Assert.Equal(r.Soft, rlimits.GetProperty(r.Type).GetProperty("soft").GetUInt64());
            Assert.Equal(r.Hard, rlimits.GetProperty(r.Type).GetProperty("hard").GetUInt64());
        }

        Assert.Equal(Enumerable.Range(0, 3 + c.PreserveFds).Select(n => n.ToString()), report.GetProperty("fds").EnumerateObject().Select(p => p.Name));

        AssertMounts(spec, report.GetProperty("mounts").EnumerateArray().ToList());

        var paths = report.GetProperty("paths");
        foreach (var path in linux.MaskedPaths ?? [])
        {
            // Masked: gone, or /dev/null bound over a file, or an empty directory.
            var p = paths.GetProperty(path);
            var kind = p.GetProperty("kind").GetString();
            Assert.True(kind switch
            {
                "missing" => !path.StartsWith("/etc/masked", StringComparison.Ordinal) && path != "/masked-dir",
                "char" => p.GetProperty("content").GetString() == "",
                "dir" => p.GetProperty("entries").GetInt32() == 0,
                _ => false,
            }, $"masked path {path}: {p}");
        }
        foreach (var path in linux.ReadonlyPaths ?? [])
        {
            var p = paths.GetProperty(path);
            if (p.GetProperty("kind").GetString() != "missing") Assert.True(p.GetProperty("readOnly").GetBoolean(), $"{path} is writable: {p}");
        }
        foreach (var (key, value) in linux.Sysctl ?? [])
            Assert.Equal(value, paths.GetProperty(SysctlPath(key)).GetProperty("content").GetString()!.Trim());
        foreach (var (file, value) in ExpectedCgroupFiles(linux.Resources))
            Assert.Equal(value, paths.GetProperty(file).GetProperty("content").GetString()!.Trim());
    }

    /// <summary>Each of the spec's mounts is there with its type, its flags and (tmpfs) its size and mode; the root is read-only when asked.</summary>
    static void AssertMounts(Spec spec, List<JsonElement> mounts)
    {
        JsonElement At(string dest) => mounts.Last(m => m.GetProperty("mountPoint").GetString() == dest);
        static List<string> Strings(JsonElement m, string name) => m.GetProperty(name).EnumerateArray().Select(e => e.GetString()!).ToList();

        Assert.Equal(spec.Root!.Readonly, Strings(At("/"), "options").Contains("ro"));
        foreach (var mount in spec.Mounts!)
        {
            var options = mount.Options ?? [];
            if (mount.Type == "cgroup" && !CgroupManager.IsUnified(CgroupManager.DefaultRoot))
            {
                // On a cgroup v1 host a cgroup mount is a tmpfs holding one mount per hierarchy, in runc
                // and Berth alike, and the spec's flags apply to the hierarchies. runc leaves the tmpfs
                // itself writable; Berth makes it read-only as well.
                var hierarchies = mounts.Where(m => m.GetProperty("mountPoint").GetString()!.StartsWith(mount.Destination + "/", StringComparison.Ordinal)).ToList();
                Assert.NotEmpty(hierarchies);
                foreach (var h in hierarchies) AssertFlags(mount.Destination, options, Strings(h, "options"), bind: false);
                continue;
            }
            var m = At(mount.Destination);
            var bind = options.Contains("bind") || options.Contains("rbind");
            if (!bind) Assert.Equal(mount.Type, m.GetProperty("type").GetString());
            AssertFlags(mount.Destination, options, Strings(m, "options"), bind);
            if (options.Contains("private") || options.Contains("rprivate")) Assert.Empty(Strings(m, "propagation"));
            if (mount.Type == "tmpfs")
            {
                var super = Strings(m, "superOptions");
                foreach (var o in options.Where(o => o.StartsWith("size=") || o.StartsWith("mode=") && Normalize(o) != Normalize("mode=1777")))
                    Assert.Contains(super, s => s.Split('=')[0] == o.Split('=')[0] && Normalize(s) == Normalize(o));
            }
        }

        static void AssertFlags(string destination, List<string> options, List<string> actual, bool bind)
        {
            // A bind also shows the flags of the mount its source is on; only "ro" is the spec's alone.
            foreach (var flag in new[] { "ro", "nosuid", "nodev", "noexec" })
                if (options.Contains(flag) || !bind || flag == "ro")
                    Assert.True(options.Contains(flag) == actual.Contains(flag), $"{destination}: {flag} is {(actual.Contains(flag) ? "set" : "not set")}; spec options {string.Join(',', options)}");
        }

        // mode=0755 and mode=755 are the same mode; the kernel shows no mode for tmpfs's default, 1777.
        static string Normalize(string option) => option.StartsWith("mode=") ? "mode=" + Convert.ToInt32(option[5..], 8) : option;
    }

    static string SysctlPath(string key) => "/proc/sys/" + key.Replace('.', '/');

    /// <summary>The container's limits, as files seen through its cgroupfs at /sys/fs/cgroup, and their expected contents.</summary>
    static Dictionary<string, string> ExpectedCgroupFiles(LinuxResources? r)
    {
        var files = new Dictionary<string, string>();
        if (r is null) return files;
        if (CgroupManager.IsUnified(CgroupManager.DefaultRoot))
        {
            if (r.Memory?.Limit is { } mem) files["/sys/fs/cgroup/memory.max"] = mem.ToString();
            if (r.Pids?.Limit is { } pids) files["/sys/fs/cgroup/pids.max"] = pids.ToString();
            if (r.Cpu?.Quota is { } quota) files["/sys/fs/cgroup/cpu.max"] = $"{quota} {r.Cpu.Period ?? 100_000}";
            return files;
        }
        if (r.Memory?.Limit is { } limit) files["/sys/fs/cgroup/memory/memory.limit_in_bytes"] = limit.ToString();
        if (r.Pids?.Limit is { } max) files["/sys/fs/cgroup/pids/pids.max"] = max.ToString();
        if (r.Cpu?.Quota is { } q) files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = q.ToString();
        if (r.Cpu?.Period is { } period) files["/sys/fs/cgroup/cpu/cpu.cfs_period_us"] = period.ToString();
        if (r.Cpu?.Shares is { } shares) files["/sys/fs/cgroup/cpu/cpu.shares"] = shares.ToString();
        return files;
    }

    static string RequireDebianRunc()
    {
        if (Environment.UserName != "root") Assert.Skip("needs root to create namespaces and mounts");
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin").Split(':')
            .Select(d => Path.Combine(d, "runc")).FirstOrDefault(File.Exists);
        if (path is null) Assert.Skip("Debian's runc is not installed (package runc)");
        return path!;
    }
}

/// <summary>
/// One rootfs for every conformance case: the probe with the shared libraries ldd lists for it,
/// and the files and directories the cases mask, bind or make read-only.
/// </summary>
public sealed class ProbeRootfs : IDisposable
{
    readonly string? missing;
    readonly DirectoryInfo dir = Directory.CreateTempSubdirectory("berth-conformance-");

    public string Rootfs => Path.Combine(dir.FullName, "rootfs");
    /// <summary>A host directory the mount cases bind into the container.</summary>
    public string SharedDir => Path.Combine(dir.FullName, "shared");

    public ProbeRootfs()
    {
        var probe = Find();
        if (probe is null)
        {
            missing = "the conformance probe is not built: run scripts/build, or set BERTH_PROBE_PATH to a NativeAOT publish of src/Berth.Conformance.Probe";
            return;
        }
        foreach (var d in new[] { "proc", "sys", "dev", "tmp", "work", "etc", "masked-dir", "ro-dir", "data", "mnt/bind-ro", "mnt/bind-rw" })
            Directory.CreateDirectory(Path.Combine(Rootfs, d));
        File.WriteAllText(Path.Combine(Rootfs, "etc/masked-file"), "secret\n");
        File.WriteAllText(Path.Combine(Rootfs, "masked-dir/inside"), "secret\n");
        File.WriteAllText(Path.Combine(Rootfs, "ro-dir/file"), "");
        Directory.CreateDirectory(SharedDir);
        File.WriteAllText(Path.Combine(SharedDir, "shared-file"), "");
        File.Copy(probe, Path.Combine(Rootfs, "probe"));
        foreach (var lib in SharedLibraries(probe))
        {
            var target = Rootfs + lib;
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(lib, target, overwrite: true);
        }
    }

    public void RequireProbe()
    {
        if (missing is not null) Assert.Skip(missing);
    }

    static string? Find()
    {
        if (Environment.GetEnvironmentVariable("BERTH_PROBE_PATH") is { Length: > 0 } fromEnv) return File.Exists(fromEnv) ? fromEnv : null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Berth.slnx")))
            {
                var path = Path.Combine(d.FullName, "artifacts/publish/Berth.Conformance.Probe/berth-conformance-probe");
                return File.Exists(path) ? path : null;
            }
        return null;
    }

    /// <summary>The absolute library paths in `ldd` output: "libc.so.6 => /lib/.../libc.so.6 (0x...)" and the loader's own line.</summary>
    static IEnumerable<string> SharedLibraries(string binary)
    {
        var psi = new ProcessStartInfo("ldd", binary) { RedirectStandardOutput = true };
        using var ldd = System.Diagnostics.Process.Start(psi)!;
        var output = ldd.StandardOutput.ReadToEnd();
        ldd.WaitForExit();
        return output.Split('\n').Select(l => l.Split("=>").Last().Trim().Split(' ')[0]).Where(p => p.StartsWith('/')).ToList();
    }

    /// <summary>
    /// Runs the probe under <paramref name="runtime"/> (a runc command line) in a bundle of its own
    /// over the shared rootfs, and returns its report. fds 3.. are /dev/null when preserved.
    /// </summary>
    public JsonElement Run(string runtime, string id, Spec spec, int preserveFds)
    {
        var bundle = Directory.CreateDirectory(Path.Combine(dir.FullName, id));
        spec.Root!.Path = Rootfs;
        spec.Save(Path.Combine(bundle.FullName, "config.json"));
        var env = new Dictionary<string, string> { ["RT"] = runtime, ["ROOT"] = Path.Combine(bundle.FullName, "state") };
        var extraFds = string.Concat(Enumerable.Range(3, preserveFds).Select(fd => $" {fd}</dev/null"));
        try
        {
            var (code, output, err) = TestRuntime.Bash($"\"$RT\" --root \"$ROOT\" run --preserve-fds {preserveFds} {id}{extraFds} < /dev/null", env, bundle.FullName);
            Assert.True(code == 0, $"{Path.GetFileName(runtime)} run exited {code}: {err}");
            return JsonDocument.Parse(output).RootElement.Clone();
        }
        finally
        {
            TestRuntime.Bash($"\"$RT\" --root \"$ROOT\" delete -f {id} > /dev/null 2>&1", env, bundle.FullName);
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(dir.FullName));
            bundle.Delete(recursive: true);
        }
    }

    public void Dispose() => dir.Delete(recursive: true);
}
