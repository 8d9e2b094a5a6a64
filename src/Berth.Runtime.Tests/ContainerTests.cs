using Berth.Interop;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// Real containers from a busybox rootfs, through the LinuxContainer API and the NativeAOT
/// berth-runc init. Needs root and a published berth-runc (BERTH_RUNC_PATH, or
/// artifacts/pub/berth-runc at the repository root).
/// </summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed class ContainerTests : IDisposable
{
    static readonly string[] Applets = ["sh", "echo", "ls", "cat", "true", "sleep", "hostname", "id", "pwd", "test", "mknod", "rm"];

    readonly DirectoryInfo bundle;
    readonly string initPath;

    public ContainerTests()
    {
        // Skips come first: xunit does not dispose a test class whose constructor threw.
        initPath = TestRuntime.RequireRunc();
        bundle = TestRuntime.NewBundle(Applets);
    }

    public void Dispose()
    {
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(bundle.FullName));
        bundle.Delete(recursive: true);
    }

    Spec SpecFor(params string[] args)
    {
        var spec = DefaultSpec.Create(args);
        spec.Hostname = "berth-test";
        return spec;
    }

    LinuxContainer Create(Spec spec, int stdout = -1) => LinuxContainer.Create(new CreateOptions
    {
        Id = "test", BundleDir = bundle.FullName, Spec = spec, InitPath = initPath, Stdio = new ContainerStdio(-1, stdout, stdout),
    });

    /// <summary>Runs the container to completion; returns its exit code and what it wrote to stdout and stderr.</summary>
    (int ExitCode, string Output) Run(Spec spec)
    {
        var (read, write) = LibC.Pipe();
        using var reader = new StreamReader(new FileStream(new SafeFileHandle(read, ownsHandle: true), FileAccess.Read));
        LinuxContainer container;
        try { container = Create(spec, write); }
        finally { LibC.Close(write); }
        using (container)
        {
            var output = reader.ReadToEndAsync(TestContext.Current.CancellationToken);
            container.Start();
            var code = container.WaitForExit();
            container.Destroy();
            return (code, output.Result);
        }
    }

    [Fact]
    public void Exit_code_of_the_process_is_returned()
    {
        Assert.Equal(3, Run(SpecFor("sh", "-c", "exit 3")).ExitCode);
    }

    [Fact]
    public void Process_is_pid_1_with_the_spec_hostname_and_proc_mounted()
    {
        var (code, output) = Run(SpecFor("sh", "-c", "echo $$; hostname; test -e /proc/self/status && echo proc"));
        Assert.Equal(0, code);
        Assert.Equal("1\nberth-test\nproc\n", output);
    }

    [Fact]
    public void Cwd_and_user_come_from_the_spec()
    {
        var spec = SpecFor("sh", "-c", "id -u; id -g; pwd");
        spec.Process!.User = new User { Uid = 1000, Gid = 1001 };
        spec.Process.Cwd = "/tmp/work";
        Assert.Equal("1000\n1001\n/tmp/work\n", Run(spec).Output);
    }

    [Fact]
    public void Missing_command_fails_at_create_with_runcs_message()
    {
        var e = Assert.Throws<RuntimeException>(() => Create(SpecFor("berth-no-such-command")));
        Assert.Equal("exec: \"berth-no-such-command\": executable file not found in $PATH", e.Message);
    }

    [Fact]
    public void Rlimit_above_the_hard_limit_fails_naming_the_limit()
    {
        LibC.GetRlimit(7, out var nofile);
        if (nofile.Max == ulong.MaxValue) Assert.Skip("RLIMIT_NOFILE has no hard limit here");
        var spec = SpecFor("true");
        spec.Process!.Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = nofile.Max + 1, Hard = nofile.Max + 1 }];
        var caps = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapEff:"));
        if ((Convert.ToUInt64(caps[7..].Trim(), 16) & (1UL << 24)) != 0) Assert.Skip("this process has CAP_SYS_RESOURCE, so the limit can be raised");
        var e = Assert.Throws<RuntimeException>(() => Create(spec));
        Assert.Contains("RLIMIT_NOFILE", e.Message);
    }

    [Fact]
    public void Terminal_process_gets_a_pty_from_the_containers_devpts_as_controlling_terminal_and_console()
    {
        var spec = SpecFor("sh", "-c", "test -t 0 && test -t 1 && echo tty; : < /dev/tty && echo ctty; tty; stty size; ls -L -i /dev/console /dev/pts/0 | cut -c1-12");
        spec.Process!.Terminal = true;
        spec.Process.ConsoleSize = new Box { Height = 40, Width = 120 };
        AddApplets("tty", "cut", "stty");
        using var container = Create(spec);
        using var master = container.TakeConsole();
        Assert.NotNull(master);
        container.Start();
        var output = ReadAll(master);
        Assert.Equal(0, container.WaitForExit());
        var lines = output.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["tty", "ctty", "/dev/pts/0", "40 120"], lines[..4]);
        // /dev/console is a bind of the slave: the same inode.
        Assert.Equal(lines[4].Trim().Split(' ')[0], lines[5].Trim().Split(' ')[0]);
        container.Destroy();
    }

    [Fact]
    public async Task Terminal_master_is_sent_to_the_console_socket()
    {
        var spec = SpecFor("sh", "-c", "tty");
        spec.Process!.Terminal = true;
        AddApplets("tty");
        var socketPath = Path.Combine(bundle.FullName, "console.sock");
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        var received = Task.Run(() => ReceiveFd(listener), TestContext.Current.CancellationToken);
        using var container = LinuxContainer.Create(new CreateOptions
        {
            Id = "tty", BundleDir = bundle.FullName, Spec = spec, InitPath = initPath, Stdio = new ContainerStdio(-1, -1, -1),
            ConsoleSocket = socketPath,
        });
        Assert.Null(container.TakeConsole());
        using var master = await received;
        container.Start();
        Assert.Equal("/dev/pts/0\r\n", ReadAll(master));
        Assert.Equal(0, container.WaitForExit());
        container.Destroy();
    }

    static SafeFileHandle ReceiveFd(System.Net.Sockets.Socket listener)
    {
        using var connection = listener.Accept();
        var fds = new List<int>();
        var buffer = new byte[64];
        Assert.True(LibC.ReceiveWithFds((int)connection.Handle, buffer, fds) > 0);
        Assert.Single(fds);
        return new SafeFileHandle(fds[0], ownsHandle: true);
    }

    /// <summary>Everything read from a pty master until the last slave closes (then reads fail with EIO).</summary>
    internal static string ReadAll(SafeFileHandle master)
    {
        var output = new MemoryStream();
        using var stream = new FileStream(new SafeFileHandle(LibC.Check(LibC.Fcntl((int)master.DangerousGetHandle(), LibC.F_DUPFD_CLOEXEC, 0), "dup"), true), FileAccess.Read, 1);
        var buffer = new byte[256];
        try { for (int n; (n = stream.Read(buffer)) > 0;) output.Write(buffer, 0, n); }
        catch (IOException) { }
        return System.Text.Encoding.UTF8.GetString(output.ToArray());
    }

    void AddApplets(params string[] names)
    {
        foreach (var name in names)
        {
            var link = Path.Combine(bundle.FullName, "rootfs/bin", name);
            if (!Path.Exists(link)) File.CreateSymbolicLink(link, "busybox");
        }
    }

    [Fact]
    public void Default_seccomp_profile_refuses_mount_with_EPERM_even_where_the_capability_would_allow_it()
    {
        AddApplets("mount", "unshare");
        const string script = "mount -t tmpfs none /tmp && echo mounted; unshare -n true && echo unshared; exit 0";
        var spec = SpecFor("sh", "-c", script);
        // CAP_SYS_ADMIN in the container but a profile made for Docker's default capabilities: only seccomp stands in the way.
        spec.Process!.Capabilities!.Bounding!.Add("CAP_SYS_ADMIN");
        spec.Process.Capabilities.Effective!.Add("CAP_SYS_ADMIN");
        spec.Process.Capabilities.Permitted!.Add("CAP_SYS_ADMIN");
        Assert.Equal("mounted\nunshared\n", Run(spec).Output);

        spec.Linux!.Seccomp = Seccomp.DefaultSeccompProfile.Create().ToOci(DefaultSpec.DefaultCapabilities.ToList());
        var (code, output) = Run(spec);
        Assert.Equal(0, code);
        Assert.DoesNotContain("mounted", output);
        Assert.DoesNotContain("unshared", output);
        // busybox words EPERM from mount(2) its own way.
        Assert.Contains("mount: permission denied (are you root?)", output);
        Assert.Contains("unshare(0x40000000): Operation not permitted", output);
    }

    [Fact]
    public void Seccomp_argument_conditions_pick_out_calls_by_their_arguments()
    {
        var spec = SpecFor("sh", "-c", "touch /tmp/f; for m in 644 777 4755 755; do chmod $m /tmp/f 2>/dev/null && echo $m ok || echo $m refused; done");
        AddApplets("touch", "chmod");
        LinuxSeccompArg[] Conditions(uint modeIndex) =>
        [
            new() { Index = modeIndex, Op = "SCMP_CMP_EQ", Value = 0x1ff /* 0777 */ },
            new() { Index = modeIndex, Op = "SCMP_CMP_MASKED_EQ", Value = 0x800 /* S_ISUID */, ValueTwo = 0x800 },
        ];
        spec.Process!.NoNewPrivileges = true;
        spec.Linux!.Seccomp = new LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW", Architectures = ["SCMP_ARCH_X86_64"],
            Syscalls =
            [
                new LinuxSyscall { Names = ["chmod"], Action = "SCMP_ACT_ERRNO", Args = [.. Conditions(1)] },
                new LinuxSyscall { Names = ["fchmodat"], Action = "SCMP_ACT_ERRNO", Args = [.. Conditions(2)] },
            ],
        };
        Assert.Equal("644 ok\n777 refused\n4755 refused\n755 ok\n", Run(spec).Output);
    }

    [Fact]
    public void Invalid_seccomp_profile_fails_create_naming_the_field()
    {
        var spec = SpecFor("true");
        spec.Linux!.Seccomp = new LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Syscalls = [new LinuxSyscall { Names = ["getpid"], Action = "SCMP_ACT_ERRNO", Args = [new LinuxSeccompArg { Index = 9, Op = "SCMP_CMP_EQ" }] }],
        };
        var e = Assert.Throws<RuntimeException>(() => Create(spec));
        Assert.Equal("seccomp: linux.seccomp.syscalls[0].args[0].index: 9 is out of range (a syscall has 6 arguments, 0-5)", e.Message);
    }

    static Hook LoggingHook(string log, string phase, int exitCode = 0) => new()
    {
        Path = "/bin/sh", Args = ["sh", "-c", $"printf '%s ' \"$PHASE\" >> '{log}'; cat >> '{log}'; echo >> '{log}'; exit {exitCode}"], Env = ["PHASE=" + phase],
    };

    [Fact]
    public void Hooks_run_in_lifecycle_order_with_the_state_on_stdin()
    {
        var hostLog = Path.Combine(bundle.FullName, "hooks.log");
        var spec = SpecFor("true");
        spec.Annotations = new Dictionary<string, string> { ["org.test"] = "yes" };
        spec.Hooks = new Hooks
        {
            Prestart = [LoggingHook(hostLog, "prestart")],
            CreateRuntime = [LoggingHook(hostLog, "createRuntime")],
            CreateContainer = [LoggingHook(hostLog, "createContainer")],
            // Runs inside the container after pivot_root: its /bin/sh and /tmp are the container's.
            StartContainer = [LoggingHook("/tmp/hooks.log", "startContainer")],
            Poststart = [LoggingHook(hostLog, "poststart")],
            Poststop = [LoggingHook(hostLog, "poststop", exitCode: 1)],
        };
        int pid;
        using (var container = Create(spec))
        {
            pid = container.Pid;
            container.Start();
            container.WaitForExit();
            container.Destroy();
        }
        var lines = File.ReadAllLines(hostLog);
        Assert.Equal(["prestart", "createRuntime", "createContainer", "poststart", "poststop"], lines.Select(l => l.Split(' ')[0]));
        Assert.Equal(["creating", "creating", "creating", "running", "stopped"], lines.Select(l => State(l).GetProperty("status").GetString()));
        var first = State(lines[0]);
        Assert.Equal("test", first.GetProperty("id").GetString());
        Assert.Equal(pid, first.GetProperty("pid").GetInt32());
        Assert.Equal(bundle.FullName, first.GetProperty("bundle").GetString());
        Assert.Equal("yes", first.GetProperty("annotations").GetProperty("org.test").GetString());
        var inside = File.ReadAllText(Path.Combine(bundle.FullName, "rootfs/tmp/hooks.log"));
        Assert.StartsWith("startContainer ", inside);
        Assert.Equal("created", State(inside).GetProperty("status").GetString());
    }

    static System.Text.Json.JsonElement State(string line) => System.Text.Json.JsonDocument.Parse(line[(line.IndexOf(' ') + 1)..]).RootElement;

    [Fact]
    public void Failing_createRuntime_hook_fails_create_and_leaves_nothing_running()
    {
        var spec = SpecFor("true");
        spec.Hooks = new Hooks { CreateRuntime = [new Hook { Path = "/bin/sh", Args = ["sh", "-c", "echo no way >&2; exit 3"] }] };
        var e = Assert.Throws<RuntimeException>(() => Create(spec));
        Assert.Equal("createRuntime hook #0 (/bin/sh): exit status 3: no way", e.Message);
    }

    [Fact]
    public void Hook_that_outlives_its_timeout_is_killed_and_fails_create()
    {
        var spec = SpecFor("true");
        spec.Hooks = new Hooks { CreateContainer = [new Hook { Path = "/bin/sleep", Args = ["sleep", "30"], Timeout = 1 }] };
        var started = DateTime.UtcNow;
        var e = Assert.Throws<RuntimeException>(() => Create(spec));
        Assert.Equal("createContainer hook #0 (/bin/sleep): timed out after 1s", e.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Container_processes_cannot_reach_the_runtime_binary_through_a_waiting_inits_proc_exe()
    {
        AddApplets("readlink");
        // A's init waits as pid 1 for "start"; B joins A's pid namespace and goes after it, as CVE-2019-5736 did.
        using var waiting = Create(SpecFor("true"));
        var spec = SpecFor("sh", "-c", "readlink /proc/1/exe || echo denied; cat /proc/1/environ >/dev/null 2>&1 || echo denied");
        spec.Linux!.Namespaces!.Find(n => n.Type == "pid")!.Path = $"/proc/{waiting.Pid}/ns/pid";
        var (code, output) = Run(spec);
        Assert.Equal(0, code);
        Assert.Equal("denied\ndenied\n", output);
    }

    [Fact]
    public void Only_stdio_is_open_in_the_containers_process()
    {
        var (code, output) = Run(SpecFor("ls", "/proc/self/fd"));
        Assert.Equal(0, code);
        // 0-2, and the directory ls itself opened to list.
        Assert.Equal("0\n1\n2\n3\n", output);
    }

    [Fact]
    public void Exec_joins_the_running_containers_namespaces()
    {
        using var container = Create(SpecFor("sleep", "100"));
        container.Start();
        try
        {
            var (read, write) = LibC.Pipe();
            using var reader = new StreamReader(new FileStream(new SafeFileHandle(read, ownsHandle: true), FileAccess.Read));
            ExecProcess exec;
            var process = new Oci.Process { Args = ["sh", "-c", "hostname; cat /proc/1/cmdline; echo; pwd; id -u; exit 5"], Cwd = "/tmp", User = new User { Uid = 1000 } };
            try { exec = container.Exec(process, new ContainerStdio(-1, write, write)); }
            finally { LibC.Close(write); }
            Assert.Equal("berth-test\nsleep\0100\0\n/tmp\n1000\n", reader.ReadToEnd());
            Assert.Equal(5, exec.WaitForExit());
            var e = Assert.Throws<RuntimeException>(() => container.Exec(new Oci.Process { Args = ["berth-no-such-command"] }, new ContainerStdio(-1, -1, -1)));
            Assert.Contains("executable file not found", e.Message);
        }
        finally
        {
            container.Signal(9);
            container.WaitForExit();
            container.Destroy();
        }
    }

    [Fact]
    public void Killed_container_exits_with_128_plus_the_signal()
    {
        using var container = Create(SpecFor("sleep", "100"));
        container.Start();
        container.Signal(9);
        Assert.Equal(137, container.WaitForExit());
        container.Destroy();
        container.Signal(9);
    }

    [Fact]
    public void Cgroup_gets_the_limits_and_is_removed_by_destroy()
    {
        if (CgroupManager.IsUnified(CgroupManager.DefaultRoot) || !Directory.Exists("/sys/fs/cgroup/memory"))
            Assert.Skip("needs the v1 memory controller at /sys/fs/cgroup/memory");
        var name = "berth-runtime-test-" + Guid.NewGuid().ToString("N")[..8];
        var spec = SpecFor("sh", "-c", "cat /proc/self/cgroup");
        spec.Linux!.CgroupsPath = "/" + name;
        spec.Linux.Resources = new LinuxResources { Memory = new LinuxMemory { Limit = 64 << 20 }, Pids = new LinuxPids { Limit = 50 } };
        var (read, write) = LibC.Pipe();
        using var reader = new StreamReader(new FileStream(new SafeFileHandle(read, ownsHandle: true), FileAccess.Read));
        LinuxContainer container;
        try { container = Create(spec, write); }
        finally { LibC.Close(write); }
        using (container)
        {
            Assert.Equal((64 << 20).ToString(), File.ReadAllText($"/sys/fs/cgroup/memory/{name}/memory.limit_in_bytes").Trim());
            container.Start();
            Assert.Contains($"memory:/{name}", reader.ReadToEnd());
            Assert.Equal(0, container.WaitForExit());
            container.Destroy();
        }
        Assert.DoesNotContain(Directory.EnumerateDirectories("/sys/fs/cgroup", name, SearchOption.AllDirectories), _ => true);
    }

    [Fact]
    public void Devices_cgroup_denies_unlisted_devices_but_allows_dev_null()
    {
        if (!Directory.Exists("/sys/fs/cgroup/devices")) Assert.Skip("needs the v1 devices controller");
        // A host device outside the default allow list that root may open without any capability.
        if (!File.Exists("/dev/loop-control")) Assert.Skip("needs /dev/loop-control (10:237) as the device to deny");
        const string script = "echo x > /dev/null && echo null-ok; mknod /tmp/dev c 10 237 && : < /tmp/dev && echo opened; rm -f /tmp/dev";
        Assert.Contains("opened", Run(SpecFor("sh", "-c", script)).Output);
        var spec = SpecFor("sh", "-c", script);
        spec.Linux!.CgroupsPath = "/berth-runtime-test-" + Guid.NewGuid().ToString("N")[..8];
        var output = Run(spec).Output;
        Assert.Contains("null-ok", output);
        Assert.DoesNotContain("opened", output);
    }

    [Fact]
    public void Failed_create_leaves_no_cgroup_or_process_behind()
    {
        if (!Directory.Exists("/sys/fs/cgroup/pids")) Assert.Skip("needs the v1 pids controller");
        var name = "berth-runtime-test-" + Guid.NewGuid().ToString("N")[..8];
        var spec = SpecFor("berth-no-such-command");
        spec.Linux!.CgroupsPath = "/" + name;
        Assert.Throws<RuntimeException>(() => Create(spec));
        Assert.False(Directory.Exists($"/sys/fs/cgroup/pids/{name}"));
        Assert.Equal(-1, LibC.WaitPid(-1, out _, LibC.WNOHANG));
    }
}
