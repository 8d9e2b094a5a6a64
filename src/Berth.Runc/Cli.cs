using System.Runtime.InteropServices;
using System.Text.Json;
using Berth.Interop;
using Berth.Runtime;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;

namespace Berth.Runc;

/// <summary>
/// runc-compatible command line, parsed by hand to keep start-up short. Flags runc accepts that
/// change nothing here (--log, --log-format, --debug, --systemd-cgroup) are accepted and ignored
/// so that tools written for runc can drive berth-runc.
/// </summary>
static class Cli
{
    const string Usage = """
        usage: berth-runc [--root DIR] COMMAND [OPTIONS]

        commands:
          spec   [-b BUNDLE] [--args CMD...]     write a default config.json
          run    [-b BUNDLE] [-d] [--pid-file F] ID   create, start and (unless -d) wait; exit code propagates
          state  ID                               print the container's state as JSON
          kill   ID [SIGNAL]                      send a signal (default SIGTERM)
          delete [-f] ID                          remove a stopped (or, with -f, any) container
          list   [-q]                             list containers
        """;

    static readonly string[] IgnoredWithValue = ["--log", "--log-format", "--criu", "--rootless"];
    static readonly string[] IgnoredSwitches = ["--debug", "--systemd-cgroup"];

    public static int Run(string[] argv)
    {
        try
        {
            var root = "/run/berth-runc";
            var rest = new List<string>();
            for (var i = 0; i < argv.Length; i++)
            {
                if (argv[i] == "--root" && i + 1 < argv.Length) root = argv[++i];
                else if (argv[i].StartsWith("--root=", StringComparison.Ordinal)) root = argv[i][7..];
                else if (IgnoredWithValue.Contains(argv[i]) && i + 1 < argv.Length) i++;
                else if (IgnoredSwitches.Contains(argv[i]) || IgnoredWithValue.Any(f => argv[i].StartsWith(f + "=", StringComparison.Ordinal))) { }
                else { rest.AddRange(argv[i..]); break; }
            }
            if (rest.Count == 0 || rest[0] is "-h" or "--help" or "help") { Console.WriteLine(Usage); return rest.Count == 0 ? 2 : 0; }
            var store = new StateStore(root);
            var a = new Args(rest.Skip(1).ToList());
            return rest[0] switch
            {
                "spec" => Spec(a),
                "run" => Run(store, a),
                "state" => State(store, a),
                "kill" => Kill(store, a),
                "delete" => Delete(store, a),
                "list" => List(store, a),
                _ => Fail($"unknown command \"{rest[0]}\"\n{Usage}", 2),
            };
        }
        catch (Exception e) when (e is RuntimeException or SysException or SpecException or UsageException or IOException)
        {
            return Fail(e.Message);
        }
    }

    static int Fail(string message, int code = 1)
    {
        Console.Error.WriteLine($"berth-runc: {message}");
        return code;
    }

    static int Spec(Args a)
    {
        var bundle = a.Value("-b", "--bundle") ?? ".";
        var path = Path.Combine(bundle, "config.json");
        if (File.Exists(path)) return Fail($"File {path} exists. Remove it first");
        var command = a.Rest("--args");
        DefaultSpec.Create(command.Count > 0 ? command : null).Save(path);
        return 0;
    }

    static int Run(StateStore store, Args a)
    {
        var bundle = Path.GetFullPath(a.Value("-b", "--bundle") ?? ".");
        var detach = a.Switch("-d", "--detach");
        var pidFile = a.Value("--pid-file");
        var consoleSocket = a.Value("--console-socket");
        a.Ignore("--preserve-fds");
        a.IgnoreSwitch("--no-pivot", "--no-new-keyring", "--keep");
        var id = a.Id();
        if (store.Load(id) is not null) return Fail($"container with id {id} already exists");
        var spec = Berth.Runtime.Oci.Spec.Load(Path.Combine(bundle, "config.json"));
        if (spec.Process?.Terminal == true && consoleSocket is null)
            return Fail("process.terminal is true: pass --console-socket, a unix socket that receives the pty master");
        if (spec.Process?.Terminal != true && consoleSocket is not null) return Fail("--console-socket needs process.terminal to be true");

        // Not disposed on the detached path: the container outlives this process, and `delete` cleans up.
        var container = LinuxContainer.Create(new CreateOptions
        {
            Id = id, BundleDir = bundle, Spec = spec, Stdio = new ContainerStdio(0, 1, 2),
            InitPath = Environment.ProcessPath, ConsoleSocket = consoleSocket is null ? null : Path.GetFullPath(consoleSocket),
        });
        var state = new ContainerState
        {
            Id = id, Pid = container.Pid, Bundle = bundle, Status = "running",
            Rootfs = Path.GetFullPath(spec.Root!.Path, bundle), Created = DateTimeOffset.UtcNow,
            CgroupsPath = spec.Linux?.CgroupsPath, StartTime = StateStore.StartTimeOf(container.Pid) ?? 0,
        };
        try
        {
            store.Save(state);
            if (pidFile is not null) File.WriteAllText(pidFile, container.Pid.ToString());
            container.Start();
        }
        catch
        {
            container.Dispose();
            store.Remove(id);
            throw;
        }
        if (detach) return 0;

        // Forward the signals a terminal or supervisor sends to us on to the container.
        var forwards = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT }
            .Select(s => PosixSignalRegistration.Create(s, ctx => { ctx.Cancel = true; container.Signal(Number(ctx.Signal)); }))
            .ToList();
        var code = container.WaitForExit();
        forwards.ForEach(r => r.Dispose());
        container.Dispose();
        store.Remove(id);
        return code;
    }

    static int Number(PosixSignal s) => s switch
    {
        PosixSignal.SIGINT => 2, PosixSignal.SIGTERM => 15, PosixSignal.SIGHUP => 1, PosixSignal.SIGQUIT => 3, _ => (int)s,
    };

    static int State(StateStore store, Args a)
    {
        var id = a.Id();
        var state = store.Load(id) ?? throw new UsageException($"container \"{id}\" does not exist");
        Console.WriteLine(JsonSerializer.Serialize(state, StateJson.Default.ContainerState));
        return 0;
    }

    static int Kill(StateStore store, Args a)
    {
        a.IgnoreSwitch("-a", "--all");
        var id = a.Id();
        var signal = ParseSignal(a.Positional() ?? "SIGTERM");
        var state = store.Load(id) ?? throw new UsageException($"container \"{id}\" does not exist");
        if (state.Status == "stopped") return Fail("container not running");
        LibC.Check(LibC.Kill(state.Pid, signal), "kill", $"pid {state.Pid}");
        return 0;
    }

    static readonly string[] SignalNames =
    [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
        "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];

    public static int ParseSignal(string s)
    {
        if (int.TryParse(s, out var n) && n is > 0 and < 65) return n;
        var name = s.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        var index = Array.IndexOf(SignalNames, name);
        return index > 0 ? index : throw new UsageException($"unknown signal \"{s}\"");
    }

    static int Delete(StateStore store, Args a)
    {
        var force = a.Switch("-f", "--force");
        var id = a.Id();
        var state = store.Load(id);
        if (state is null) return force ? 0 : Fail($"container \"{id}\" does not exist");
        if (state.Status != "stopped")
        {
            if (!force) return Fail($"cannot delete container {id} that is not stopped: {state.Status}");
            LibC.Kill(state.Pid, LibC.SIGKILL);
            for (var i = 0; i < 200 && StateStore.StartTimeOf(state.Pid) == state.StartTime; i++) Thread.Sleep(10);
        }
        if (state.CgroupsPath is { Length: > 0 } cg) CgroupManager.ForPath(cg).Destroy();
        store.Remove(id);
        return 0;
    }

    static int List(StateStore store, Args a)
    {
        var quiet = a.Switch("-q", "--quiet");
        var format = a.Value("-f", "--format");
        var all = store.All().ToList();
        if (format == "json") { Console.WriteLine(JsonSerializer.Serialize(all, StateJson.Default.ListContainerState)); return 0; }
        if (!quiet) Console.WriteLine($"{"ID",-20} {"PID",-8} {"STATUS",-10} {"BUNDLE",-40} CREATED");
        foreach (var s in all)
            Console.WriteLine(quiet ? s.Id : $"{s.Id,-20} {(s.Status == "stopped" ? 0 : s.Pid),-8} {s.Status,-10} {s.Bundle,-40} {s.Created:O}");
        return 0;
    }
}

sealed class UsageException(string message) : Exception(message);

/// <summary>A command's arguments: flags are taken out by name, what is left is positional.</summary>
sealed class Args(List<string> items)
{
    public string? Value(params string[] names)
    {
        for (var i = 0; i < items.Count; i++)
        {
            foreach (var name in names)
            {
                if (items[i] == name)
                {
                    if (i + 1 >= items.Count) throw new UsageException($"flag {name} needs a value");
                    var v = items[i + 1];
                    items.RemoveRange(i, 2);
                    return v;
                }
                if (items[i].StartsWith(name + "=", StringComparison.Ordinal))
                {
                    var v = items[i][(name.Length + 1)..];
                    items.RemoveAt(i);
                    return v;
                }
            }
        }
        return null;
    }

    public bool Switch(params string[] names) => items.RemoveAll(names.Contains) > 0;

    public void Ignore(params string[] names)
    {
        foreach (var name in names) while (Value(name) is not null) { }
    }

    public void IgnoreSwitch(params string[] names) => Switch(names);

    /// <summary>Everything after <paramref name="marker"/>, removed from the list.</summary>
    public List<string> Rest(string marker)
    {
        var i = items.IndexOf(marker);
        if (i < 0) return [];
        var rest = items[(i + 1)..];
        items.RemoveRange(i, items.Count - i);
        return rest;
    }

    public string? Positional()
    {
        var i = items.FindIndex(s => !s.StartsWith('-') || s == "-");
        if (i < 0) return null;
        var v = items[i];
        items.RemoveAt(i);
        return v;
    }

    public string Id()
    {
        var unknown = items.FirstOrDefault(s => s.StartsWith('-') && s.Length > 1);
        if (unknown is not null) throw new UsageException($"unknown flag {unknown}");
        return Positional() ?? throw new UsageException("a container id is required");
    }
}
