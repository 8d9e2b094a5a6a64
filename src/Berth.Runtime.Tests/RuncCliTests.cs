using System.Net.Sockets;
using System.Text.Json;
using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// The berth-runc command line as runc's callers use it: each test drives the published binary
/// through bash (so that a container's stdio can be a file, as containerd's shim passes it) with
/// a private --root, and deletes what it created.
/// </summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed class RuncCliTests : IDisposable
{
    static readonly string[] Applets = ["sh", "echo", "cat", "true", "sleep", "id", "test", "ls", "hostname"];

    readonly string runc;
    readonly DirectoryInfo bundle;
    readonly string root;
    readonly string id = "t" + Guid.NewGuid().ToString("N")[..10];
    readonly string? cgroupsPath;

    public RuncCliTests()
    {
        runc = TestRuntime.RequireRunc();
        bundle = TestRuntime.NewBundle(Applets);
        root = Path.Combine(bundle.FullName, "state");
        cgroupsPath = "/berth-runc-test-" + id;
    }

    public void Dispose()
    {
        Sh($"$R delete -f {id}");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(bundle.FullName));
        Assert.False(Directory.Exists("/sys/fs/cgroup/pids" + cgroupsPath), "the container's cgroup is left behind");
        bundle.Delete(recursive: true);
    }

    void WriteSpec(Action<Spec>? change, params string[] args)
    {
        var spec = DefaultSpec.Create(args);
        spec.Linux!.CgroupsPath = cgroupsPath;
        change?.Invoke(spec);
        spec.Save(Path.Combine(bundle.FullName, "config.json"));
    }

    /// <summary>Runs a bash script with $R (berth-runc --root ...) and $B (the bundle) set.</summary>
    (int Code, string Out, string Err) Sh(string script) =>
        TestRuntime.Bash(script, new Dictionary<string, string> { ["R"] = $"{runc} --root {root}", ["B"] = bundle.FullName }, bundle.FullName);

    JsonElement State()
    {
        var (code, output, err) = Sh($"$R state {id}");
        Assert.True(code == 0, err);
        return JsonDocument.Parse(output).RootElement;
    }

    void WaitForStatus(string status)
    {
        for (var i = 0; i < 500 && State().GetProperty("status").GetString() != status; i++) Thread.Sleep(10);
        Assert.Equal(status, State().GetProperty("status").GetString());
    }

    [Fact]
    public void Create_leaves_init_waiting_until_start_then_the_process_writes_to_creates_stdio()
    {
        WriteSpec(null, "sh", "-c", "echo started as $$");
        var (code, _, err) = Sh($"$R create --pid-file $B/init.pid {id} > $B/out.txt 2>&1 < /dev/null");
        Assert.True(code == 0, err);

        var state = State();
        Assert.Equal("created", state.GetProperty("status").GetString());
        Assert.Equal(File.ReadAllText(Path.Combine(bundle.FullName, "init.pid")), state.GetProperty("pid").GetInt32().ToString());
        Assert.Equal("", File.ReadAllText(Path.Combine(bundle.FullName, "out.txt")));

        (code, _, err) = Sh($"$R start {id}");
        Assert.True(code == 0, err);
        WaitForStatus("stopped");
        Assert.Equal("started as 1\n", File.ReadAllText(Path.Combine(bundle.FullName, "out.txt")));
        Assert.Equal(0, State().GetProperty("pid").GetInt32());

        (code, _, err) = Sh($"$R start {id}");
        Assert.Equal(1, code);
        Assert.Contains("cannot start a container that has stopped", err);
        (code, _, err) = Sh($"$R delete {id}");
        Assert.True(code == 0, err);
        Assert.False(Directory.Exists(Path.Combine(root, id)));
    }

    [Fact]
    public void State_prints_runcs_fields()
    {
        WriteSpec(s => s.Annotations = new() { ["org.example.key"] = "value" }, "sleep", "100");
        Assert.Equal(0, Sh($"$R create {id} > /dev/null 2>&1 < /dev/null").Code);
        var state = State();
        Assert.Equal(["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"],
            state.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(id, state.GetProperty("id").GetString());
        Assert.Equal(bundle.FullName, state.GetProperty("bundle").GetString());
        Assert.Equal(Path.Combine(bundle.FullName, "rootfs"), state.GetProperty("rootfs").GetString());
        Assert.Equal("value", state.GetProperty("annotations").GetProperty("org.example.key").GetString());
        Assert.True(state.GetProperty("created").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5));

        var (_, list, _) = Sh("$R list --format json");
        Assert.Equal(id, JsonDocument.Parse(list).RootElement.EnumerateArray().Single().GetProperty("id").GetString());
        Assert.Equal(id + "\n", Sh("$R list -q").Out);
    }

    [Fact]
    public void Delete_of_a_created_container_kills_its_init_and_removes_its_cgroup()
    {
        WriteSpec(null, "sleep", "100");
        Assert.Equal(0, Sh($"$R create --pid-file $B/init.pid {id} > /dev/null 2>&1 < /dev/null").Code);
        var pid = int.Parse(File.ReadAllText(Path.Combine(bundle.FullName, "init.pid")));
        Assert.True(Directory.Exists("/sys/fs/cgroup/pids" + cgroupsPath) || !Directory.Exists("/sys/fs/cgroup/pids"));
        var (code, _, err) = Sh($"$R delete {id}");
        Assert.True(code == 0, err);
        Assert.False(File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "), "init still runs");
        Assert.Equal(1, Sh($"$R state {id}").Code);
    }

    [Fact]
    public void Exec_joins_the_container_and_propagates_the_exit_code()
    {
        WriteSpec(s => s.Hostname = "runc-cli", "sleep", "100");
        Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);
        Assert.Equal("running", State().GetProperty("status").GetString());

        var (code, output, err) = Sh($"$R exec -e FOO=bar {id} sh -c 'echo $FOO $(hostname) $(cat /proc/1/comm); exit 5'");
        Assert.True(code == 5, err);
        Assert.Equal("bar runc-cli sleep\n", output);

        // What containerd's shim passes: --process, --detach, --pid-file.
        var process = new Berth.Runtime.Oci.Process { Args = ["sleep", "100"], Cwd = "/", User = new User { Uid = 1000, Gid = 1000 }, Env = ["PATH=/bin"] };
        File.WriteAllText(Path.Combine(bundle.FullName, "process.json"), SpecJson.Process.Serialize(process));
        (code, _, err) = Sh($"$R exec --process $B/process.json --detach --pid-file $B/exec.pid {id} > /dev/null 2>&1 < /dev/null");
        Assert.True(code == 0, err);
        var execPid = int.Parse(File.ReadAllText(Path.Combine(bundle.FullName, "exec.pid")));
        var (_, ps, _) = Sh($"$R ps --format json {id}");
        var pids = JsonDocument.Parse(ps).RootElement.EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Contains(execPid, pids);
        Assert.Contains(State().GetProperty("pid").GetInt32(), pids);
        Assert.Contains(File.ReadAllLines($"/proc/{execPid}/status"), l => l.StartsWith("Uid:") && l.Split('\t')[1] == "1000");

        (code, _, err) = Sh($"$R kill --all {id} KILL");
        Assert.True(code == 0, err);
        WaitForStatus("stopped");
        (code, _, err) = Sh($"$R kill {id} 15");
        Assert.Equal(1, code);
        Assert.Contains("container not running", err);
    }

    [Fact]
    public void Exec_user_name_is_looked_up_in_the_containers_passwd_and_group()
    {
        var etc = Path.Combine(bundle.FullName, "rootfs/etc");
        Directory.CreateDirectory(etc);
        File.WriteAllText(Path.Combine(etc, "passwd"), "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1500:Alice:/home/alice:/bin/sh\n");
        File.WriteAllText(Path.Combine(etc, "group"), "root:x:0:\nstaff:x:1500:\ndev:x:2600:alice\nops:x:2700:\n");
        WriteSpec(null, "sleep", "100");
        Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);
        const string ids = "while read k v; do case $k in Uid:|Gid:|Groups:) echo $k $v;; esac; done < /proc/self/status";

        var (code, output, err) = Sh($"$R exec -u alice {id} sh -c '{ids}' < /dev/null");
        Assert.True(code == 0, err);
        Assert.Equal("Uid: 1234 1234 1234 1234\nGid: 1500 1500 1500 1500\nGroups: 2600\n", output);
        (code, output, err) = Sh($"$R exec --user alice:ops {id} sh -c '{ids}' < /dev/null");
        Assert.True(code == 0, err);
        Assert.StartsWith("Uid: 1234 1234 1234 1234\nGid: 2700 2700 2700 2700\n", output);
        (code, output, err) = Sh($"$R exec -u 1000:1001 {id} sh -c '{ids}' < /dev/null");
        Assert.True(code == 0, err);
        Assert.StartsWith("Uid: 1000 1000 1000 1000\nGid: 1001 1001 1001 1001\n", output);

        (code, _, err) = Sh($"$R exec -u bob {id} true < /dev/null");
        Assert.Equal(1, code);
        Assert.Contains("unable to find user bob: no matching entries in passwd file", err);
    }

    [Fact]
    public void Cwd_the_user_cannot_reach_fails_with_a_message_naming_it()
    {
        var secret = Path.Combine(bundle.FullName, "rootfs/secret");
        Directory.CreateDirectory(Path.Combine(secret, "work"));
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // No capabilities: CAP_DAC_OVERRIDE would let init search /secret after all.
        WriteSpec(s => { s.Process!.User = new User { Uid = 1000, Gid = 1000 }; s.Process.Cwd = "/secret/work"; s.Process.Capabilities = new Capabilities(); }, "true");
        var (code, _, err) = Sh($"$R run {id} < /dev/null");
        Assert.Equal(1, code);
        Assert.Contains("chdir /secret/work", err);
        Assert.DoesNotContain(" at Berth.", err);
    }

    [Fact]
    public void Pause_resume_update_and_events_work_on_the_containers_cgroup()
    {
        if (!Directory.Exists("/sys/fs/cgroup/freezer") || !Directory.Exists("/sys/fs/cgroup/pids")) Assert.Skip("needs the v1 freezer and pids hierarchies");
        WriteSpec(null, "sleep", "100");
        Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);

        Assert.Equal(0, Sh($"$R pause {id}").Code);
        Assert.Equal("paused", State().GetProperty("status").GetString());
        Assert.Equal("FROZEN", File.ReadAllText($"/sys/fs/cgroup/freezer{cgroupsPath}/freezer.state").Trim());
        Assert.Contains("cannot exec in a paused container", Sh($"$R exec {id} true").Err);
        Assert.Equal(0, Sh($"$R resume {id}").Code);
        Assert.Equal("running", State().GetProperty("status").GetString());
        Assert.Equal("THAWED", File.ReadAllText($"/sys/fs/cgroup/freezer{cgroupsPath}/freezer.state").Trim());

        var (code, _, err) = Sh($"$R update --pids-limit 42 {id}");
        Assert.True(code == 0, err);
        Assert.Equal("42", File.ReadAllText($"/sys/fs/cgroup/pids{cgroupsPath}/pids.max").Trim());
        (code, _, err) = Sh($"echo '{{\"pids\":{{\"limit\":17}}}}' | $R update -r - {id}");
        Assert.True(code == 0, err);
        Assert.Equal("17", File.ReadAllText($"/sys/fs/cgroup/pids{cgroupsPath}/pids.max").Trim());

        var (_, events, _) = Sh($"$R events --stats {id}");
        var e = JsonDocument.Parse(events).RootElement;
        Assert.Equal("stats", e.GetProperty("type").GetString());
        Assert.Equal(id, e.GetProperty("id").GetString());
        Assert.Equal(1, e.GetProperty("data").GetProperty("pids").GetProperty("current").GetInt32());
        Assert.Equal(17, e.GetProperty("data").GetProperty("pids").GetProperty("limit").GetInt32());

        (code, _, err) = Sh($"$R delete {id}");
        Assert.Equal(1, code);
        Assert.Contains("not stopped", err);
        (code, _, err) = Sh($"$R delete -f {id}");
        Assert.True(code == 0, err);
    }

    [Fact]
    public void Errors_are_written_to_the_log_file_as_json_lines()
    {
        var log = Path.Combine(bundle.FullName, "log.json");
        var (code, _, err) = Sh($"$R --log {log} --log-format json state {id}");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", err);
        var line = JsonDocument.Parse(File.ReadAllLines(log).Single()).RootElement;
        Assert.Equal("error", line.GetProperty("level").GetString());
        Assert.Contains(id, line.GetProperty("msg").GetString());
        Assert.True(line.GetProperty("time").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5));
    }

    [Fact]
    public void Systemd_cgroup_driver_is_refused_with_a_reason_and_leaves_nothing()
    {
        WriteSpec(null, "true");
        var (code, _, err) = Sh($"{runc} --root {root} --systemd-cgroup create {id} < /dev/null");
        Assert.Equal(1, code);
        Assert.Contains("cgroupfs only", err);
        Assert.Equal(1, Sh($"$R state {id}").Code);
        Assert.Contains("rootless mode is not supported", Sh($"{runc} --rootless true list").Err);
        Assert.Equal(0, Sh($"{runc} --root {root} --rootless auto list").Code);
    }

    [Fact]
    public void Preserved_fds_reach_the_process_under_their_numbers()
    {
        WriteSpec(null, "sh", "-c", "cat <&3; cat <&4");
        File.WriteAllText(Path.Combine(bundle.FullName, "three"), "fd three\n");
        File.WriteAllText(Path.Combine(bundle.FullName, "four"), "fd four\n");
        var (code, output, err) = Sh($"$R run --preserve-fds 2 {id} 3<$B/three 4<$B/four < /dev/null");
        Assert.True(code == 0, err);
        Assert.Equal("fd three\nfd four\n", output);
    }

    [Fact]
    public void Kill_takes_signal_names_and_numbers()
    {
        WriteSpec(null, "sh", "-c", "trap 'echo usr1' USR1; trap 'echo term; exit 0' TERM; while true; do sleep 0.05; done");
        Assert.Equal(0, Sh($"$R run -d {id} > $B/out.txt 2>&1 < /dev/null").Code);
        Thread.Sleep(200);
        Assert.Equal(0, Sh($"$R kill {id} SIGUSR1").Code);
        Thread.Sleep(200);
        Assert.Equal(0, Sh($"$R kill {id} 15").Code);
        WaitForStatus("stopped");
        Assert.Equal("usr1\nterm\n", File.ReadAllText(Path.Combine(bundle.FullName, "out.txt")));
        Assert.Contains("unknown signal", Sh($"$R kill {id} SIGNOPE").Err);
    }

    [Fact]
    public void Terminal_container_sends_its_pty_master_to_the_console_socket()
    {
        WriteSpec(s => s.Process!.Terminal = true, "sh", "-c", "test -t 0 && echo on-a-tty");
        var socketPath = Path.Combine(bundle.FullName, "console.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        var (code, _, err) = Sh($"$R create --console-socket {socketPath} {id} < /dev/null");
        Assert.True(code == 0, err);
        using var connection = listener.Accept();
        var fds = new List<int>();
        var buffer = new byte[64];
        Assert.True(Berth.Interop.LibC.ReceiveWithFds((int)connection.Handle, buffer, fds) > 0);
        using var master = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fds.Single(), ownsHandle: true), FileAccess.Read);
        Assert.Equal(0, Sh($"$R start {id}").Code);
        var reader = new StreamReader(master);
        Assert.Equal("on-a-tty", reader.ReadLine());
    }

    [Fact]
    public void Features_describes_the_runtime()
    {
        var (code, output, _) = Sh($"{runc} features");
        Assert.Equal(0, code);
        var f = JsonDocument.Parse(output).RootElement;
        Assert.Contains("pid", f.GetProperty("linux").GetProperty("namespaces").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("CAP_SYS_ADMIN", f.GetProperty("linux").GetProperty("capabilities").EnumerateArray().Select(e => e.GetString()));
        Assert.True(f.GetProperty("linux").GetProperty("seccomp").GetProperty("enabled").GetBoolean());
        Assert.Contains("rbind", f.GetProperty("mountOptions").EnumerateArray().Select(e => e.GetString()));
    }
}
