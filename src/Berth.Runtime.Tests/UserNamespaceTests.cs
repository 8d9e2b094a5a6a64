using System.Diagnostics;
using Berth.Interop;
using Berth.Runtime.Oci;
using Microsoft.Win32.SafeHandles;
using Xunit;
using Process = System.Diagnostics.Process;

namespace Berth.Runtime.Tests;

/// <summary>
/// Containers in user namespaces (berth-runc's C stage) and the sealed init binary
/// (CVE-2019-5736), with real namespaces and the published NativeAOT berth-runc.
/// </summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed class UserNamespaceTests : IDisposable
{
    static readonly string[] Applets = ["sh", "echo", "cat", "true", "sleep", "id", "readlink", "test", "tty"];
    const uint HostBase = 300000, Size = 65536;

    readonly DirectoryInfo bundle;
    readonly string initPath;

    public UserNamespaceTests()
    {
        initPath = TestRuntime.RequireRunc();
        bundle = TestRuntime.NewBundle(Applets);
        // As for dockerd's --userns-remap: the container's root (host uid HostBase) owns its rootfs and
        // can reach it; the temp directory itself is 0700 and host root's.
        File.SetUnixFileMode(bundle.FullName, (UnixFileMode)0x1ed /* 0755 */);
        ChownTree(Path.Combine(bundle.FullName, "rootfs"), HostBase);
    }

    public void Dispose()
    {
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(bundle.FullName));
        bundle.Delete(recursive: true);
    }

    static void ChownTree(string path, uint id)
    {
        LibC.Check(LibC.LChown(path, (int)id, (int)id), "lchown", path);
        if (new FileInfo(path).LinkTarget is null && Directory.Exists(path))
            foreach (var entry in Directory.EnumerateFileSystemEntries(path)) ChownTree(entry, id);
    }

    static Spec UsernsSpec(params string[] args)
    {
        var spec = DefaultSpec.Create(args);
        spec.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "user" });
        spec.Linux.UidMappings = [new LinuxIdMapping { ContainerId = 0, HostId = HostBase, Size = Size }];
        spec.Linux.GidMappings = [new LinuxIdMapping { ContainerId = 0, HostId = HostBase, Size = Size }];
        return spec;
    }

    LinuxContainer Create(Spec spec, int stdout = -1) => LinuxContainer.Create(new CreateOptions
    {
        Id = "userns-test", BundleDir = bundle.FullName, Spec = spec, InitPath = initPath, Stdio = new ContainerStdio(-1, stdout, stdout),
    });

    /// <summary>Creates and starts <paramref name="spec"/> with its output on a pipe, which the caller reads.</summary>
    (LinuxContainer Container, StreamReader Output) Start(Spec spec)
    {
        var (read, write) = LibC.Pipe();
        var reader = new StreamReader(new FileStream(new SafeFileHandle(read, ownsHandle: true), FileAccess.Read));
        LinuxContainer? container = null;
        try
        {
            container = Create(spec, write);
            container.Start();
            return (container, reader);
        }
        catch
        {
            container?.Dispose();
            reader.Dispose();
            throw;
        }
        finally { LibC.Close(write); }
    }

    (int ExitCode, string Output) Run(Spec spec)
    {
        var (container, reader) = Start(spec);
        using (container)
        using (reader)
        {
            var output = reader.ReadToEnd();
            var code = container.WaitForExit();
            container.Destroy();
            return (code, output);
        }
    }

    static void Stop(LinuxContainer container)
    {
        container.Signal(LibC.SIGKILL);
        container.WaitForExit();
        container.Destroy();
        container.Dispose();
    }

    static string? Link(string path) => new FileInfo(path).LinkTarget;

    static string[] Fields(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    static string StatusField(int pid, string name) =>
        File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim();

    [Fact]
    public void Process_is_root_inside_its_user_namespace_and_the_mapped_uid_on_the_host()
    {
        var (container, output) = Start(UsernsSpec("sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; exec sleep 100"));
        try
        {
            Assert.Equal(["0", HostBase.ToString(), Size.ToString()], Fields(output.ReadLine()!));
            Assert.Equal(["0", HostBase.ToString(), Size.ToString()], Fields(output.ReadLine()!));
            Assert.Equal("0", output.ReadLine());
            Assert.Equal("0", output.ReadLine());
            // Seen from the host, the same process is the mapped uid, not root.
            Assert.Equal(Enumerable.Repeat(HostBase.ToString(), 4), Fields(StatusField(container.Pid, "Uid").Replace('\t', ' ')));
            Assert.Equal(Enumerable.Repeat(HostBase.ToString(), 4), Fields(StatusField(container.Pid, "Gid").Replace('\t', ' ')));
            Assert.NotEqual(Link("/proc/self/ns/user"), Link($"/proc/{container.Pid}/ns/user"));
        }
        finally
        {
            output.Dispose();
            Stop(container);
        }
    }

    [Fact]
    public void Root_in_a_user_namespace_cannot_write_a_host_root_file_that_host_root_could()
    {
        var hostFile = Path.Combine(bundle.FullName, "host-file");
        File.WriteAllText(hostFile, "");
        File.SetUnixFileMode(hostFile, (UnixFileMode)0x1a4 /* 0644, owned by host root */);
        Spec WithHostFile(Spec spec)
        {
            spec.Mounts!.Add(new Mount { Destination = "/host-file", Type = "bind", Source = hostFile, Options = ["rbind", "rw"] });
            return spec;
        }
        const string script = "if (echo x >> /host-file) 2>/dev/null; then echo wrote; else echo denied; fi";
        // The same spec without a user namespace: container root may write it, so the mount itself is writable.
        var control = WithHostFile(DefaultSpec.Create(["sh", "-c", script]));
        Assert.Equal((0, "wrote\n"), Run(control));
        var (code, output) = Run(WithHostFile(UsernsSpec("sh", "-c", script)));
        Assert.Equal(0, code);
        Assert.Equal("denied\n", output);
        Assert.Equal("x\n", File.ReadAllText(hostFile));
    }

    [Fact]
    public void Terminal_process_in_a_user_namespace_gets_its_controlling_terminal()
    {
        var spec = UsernsSpec("sh", "-c", ": < /dev/tty && echo ctty; tty");
        spec.Process!.Terminal = true;
        using var container = Create(spec);
        using var master = container.TakeConsole();
        Assert.NotNull(master);
        container.Start();
        var output = ContainerTests.ReadAll(master);
        Assert.Equal(0, container.WaitForExit());
        Assert.Equal(["ctty", "/dev/pts/0"], output.Split("\r\n", StringSplitOptions.RemoveEmptyEntries));
        container.Destroy();
    }

    [Fact]
    public void Sysfs_is_the_hosts_when_the_user_namespace_shares_the_hosts_network()
    {
        var hostOnly = new DirectoryInfo("/sys/class/net").EnumerateFileSystemInfos().Select(i => i.Name).FirstOrDefault(n => n != "lo");
        if (hostOnly is null) Assert.Skip("needs a network interface besides lo on the host");
        var spec = UsernsSpec("sh", "-c", $"test -e /sys/class/net/{hostOnly} && echo host-network");
        spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "network");
        Assert.Equal((0, "host-network\n"), Run(spec));
    }

    [Fact]
    public void Container_joins_an_existing_user_namespace_by_path()
    {
        var (first, firstOutput) = Start(UsernsSpec("sh", "-c", "echo up; exec sleep 100"));
        try
        {
            Assert.Equal("up", firstOutput.ReadLine());
            var spec = DefaultSpec.Create(["sh", "-c", "cat /proc/self/uid_map; id -u; readlink /proc/self/ns/user"]);
            spec.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "user", Path = $"/proc/{first.Pid}/ns/user" });
            var (code, output) = Run(spec);
            Assert.Equal(0, code);
            var lines = output.Split('\n');
            Assert.Equal(["0", HostBase.ToString(), Size.ToString()], Fields(lines[0]));
            Assert.Equal("0", lines[1]);
            Assert.Equal(Link($"/proc/{first.Pid}/ns/user"), lines[2]);
        }
        finally
        {
            firstOutput.Dispose();
            Stop(first);
        }
    }

    [Fact]
    public void Exec_enters_the_containers_user_namespace()
    {
        var (container, output) = Start(UsernsSpec("sh", "-c", "echo up; exec sleep 100"));
        try
        {
            Assert.Equal("up", output.ReadLine());
            var (read, write) = LibC.Pipe();
            using var reader = new StreamReader(new FileStream(new SafeFileHandle(read, ownsHandle: true), FileAccess.Read));
            ExecProcess exec;
            var process = new Oci.Process { Args = ["sh", "-c", "id -u; readlink /proc/self/ns/user; exec sleep 100"], Cwd = "/", User = new User { Uid = 1000, Gid = 1000 } };
            try { exec = container.Exec(process, new ContainerStdio(-1, write, write)); }
            finally { LibC.Close(write); }
            try
            {
                Assert.Equal("1000", reader.ReadLine());
                Assert.Equal(Link($"/proc/{container.Pid}/ns/user"), reader.ReadLine());
                Assert.Equal((HostBase + 1000).ToString(), Fields(StatusField(exec.Pid, "Uid").Replace('\t', ' '))[0]);
            }
            finally
            {
                exec.Signal(LibC.SIGKILL);
                exec.WaitForExit();
            }
        }
        finally
        {
            output.Dispose();
            Stop(container);
        }
    }

    public static TheoryData<string, string> InvalidMappings => new()
    {
        { "overlap", "linux.uidMappings[1]: its container ids overlap those of linux.uidMappings[0]" },
        { "too-many", "linux.uidMappings: has 341 entries; the kernel takes at most 340" },
        { "no-root", "linux.gidMappings: must map container id 0: init runs as the user namespace's root" },
        { "unmapped-user", "process.user.uid: 70000 is not mapped by linux.uidMappings" },
        { "no-userns", "linux.uidMappings: needs a user namespace in linux.namespaces" },
        { "missing", "linux.gidMappings: is required with a new user namespace" },
    };

    [Theory]
    [MemberData(nameof(InvalidMappings))]
    public void Invalid_id_mappings_fail_create_naming_the_field_and_leave_nothing_behind(string problem, string message)
    {
        var spec = UsernsSpec("true");
        var uids = spec.Linux!.UidMappings!;
        switch (problem)
        {
            case "overlap": uids.Add(new LinuxIdMapping { ContainerId = 100, HostId = 900000, Size = 1 }); break;
            case "too-many":
                uids.Clear();
                uids.AddRange(Enumerable.Range(0, 341).Select(i => new LinuxIdMapping { ContainerId = (uint)i, HostId = HostBase + (uint)i, Size = 1 }));
                break;
            case "no-root": spec.Linux.GidMappings = [new LinuxIdMapping { ContainerId = 1, HostId = HostBase, Size = Size }]; break;
            case "unmapped-user": spec.Process!.User.Uid = 70000; break;
            case "no-userns": spec.Linux.Namespaces!.RemoveAll(n => n.Type == "user"); break;
            case "missing": spec.Linux.GidMappings = null; break;
        }
        var cgroup = "berth-userns-test-" + Guid.NewGuid().ToString("N")[..8];
        spec.Linux.CgroupsPath = "/" + cgroup;
        var e = Assert.Throws<SpecException>(() => Create(spec));
        Assert.Equal($"config.json: {message}", e.Message);
        Assert.False(Directory.Exists($"/sys/fs/cgroup/pids/{cgroup}"));
        Assert.Equal(-1, LibC.WaitPid(-1, out _, LibC.WNOHANG));
    }

    [Fact]
    public void Joining_a_user_namespace_by_a_path_that_is_not_one_fails_with_the_stages_error_and_leaves_nothing()
    {
        var spec = DefaultSpec.Create(["true"]);
        spec.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "user", Path = "/proc/self/ns/net" });
        var e = Assert.Throws<RuntimeException>(() => Create(spec));
        Assert.Equal("setns user namespace: Invalid argument", e.Message);
        Assert.Equal(-1, LibC.WaitPid(-1, out _, LibC.WNOHANG));
    }

    [Fact]
    public async Task Berth_runc_run_runs_a_user_namespace_spec()
    {
        var spec = UsernsSpec("sh", "-c", "id -u; cat /proc/self/uid_map");
        spec.Save(Path.Combine(bundle.FullName, "config.json"));
        var state = Path.Combine(bundle.FullName, "state");
        var psi = new ProcessStartInfo(initPath) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = bundle.FullName };
        foreach (var arg in new[] { "--root", state, "run", "--bundle", bundle.FullName, "userns-cli-" + Guid.NewGuid().ToString("N")[..8] })
            psi.ArgumentList.Add(arg);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.True(p.WaitForExit(30_000), "berth-runc run timed out");
        Assert.True(p.ExitCode == 0, await stderr);
        var lines = (await stdout).Split('\n');
        Assert.Equal("0", lines[0]);
        Assert.Equal(["0", HostBase.ToString(), Size.ToString()], Fields(lines[1]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Inits_binary_cannot_be_reopened_for_writing_through_its_exe_even_by_host_root(bool userns)
    {
        // A private copy, so that no other test's container keeps the file busy while this one opens it for writing.
        var binary = Path.Combine(bundle.FullName, "berth-runc");
        File.Copy(initPath, binary);
        var container = LinuxContainer.Create(new CreateOptions
        {
            Id = "sealed-test", BundleDir = bundle.FullName, Spec = userns ? UsernsSpec("true") : DefaultSpec.Create(["true"]),
            InitPath = binary, Stdio = new ContainerStdio(-1, -1, -1),
        });
        int exe;
        try
        {
            Assert.NotEqual(binary, Link($"/proc/{container.Pid}/exe"));
            // CVE-2019-5736: hold on to init's exe, wait until the binary is no longer busy, then reopen it for writing.
            exe = LibC.Check(LibC.Open($"/proc/{container.Pid}/exe", LibC.O_PATH | LibC.O_CLOEXEC), "open", "exe");
        }
        finally
        {
            container.Dispose();
        }
        try
        {
            Assert.Equal(-1, LibC.Open($"/proc/self/fd/{exe}", LibC.O_WRONLY | LibC.O_CLOEXEC));
            Assert.Equal(Errno.EROFS, SysException.FromLastError("open", "exe").Errno);
            // Nor can the read-only mount be made writable again.
            Assert.Equal(-1, LibC.MountSetattr(exe, "", LibC.AT_EMPTY_PATH, 0, LibC.MOUNT_ATTR_RDONLY));
            Assert.Equal(Errno.EINVAL, SysException.FromLastError("mount_setattr", "exe").Errno);
            // Through the host's path the same open succeeds: what stops it is the mount, not the file's permissions.
            LibC.Close(LibC.Check(LibC.Open(binary, LibC.O_WRONLY | LibC.O_CLOEXEC), "open", binary));
        }
        finally { LibC.Close(exe); }
    }
}
