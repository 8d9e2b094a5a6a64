using System.Runtime.InteropServices;
using Berth.Interop;
using Berth.Runtime;
using Berth.Runtime.Oci;

namespace Berth.Runc;

/// <summary>
/// runc-compatible command line, parsed by hand to keep start-up short: global flags, dispatch,
/// and the error path (stderr plus the --log file, where callers like containerd's shim look).
/// The commands are in the other partial files of this class.
/// </summary>
static partial class Cli
{
    public const string Version = "0.1.0";

    const string Usage = """
        usage: berth-runc [global options] COMMAND [OPTIONS] ID

        global options:
          --root DIR                 state directory (default /run/berth-runc)
          --log FILE                 log file (default stderr); --log-format text|json; --debug
          --systemd-cgroup           refused where a cgroup is created: berth-runc drives cgroupfs only
          --rootless false|auto      rootless mode is not supported (true is refused)
          -v, --version

        commands:
          spec     [-b BUNDLE] [--args CMD...]         write a default config.json
          create   [-b BUNDLE] [--pid-file F] [--console-socket S] [--preserve-fds N] ID
          start    ID                                  run the user's process of a created container
          run      [-b BUNDLE] [-d] [--keep] [--pid-file F] [--console-socket S] [--preserve-fds N] ID
          exec     [--process FILE | -t -e K=V -u UID[:GID] --cwd DIR --cap CAP --no-new-privs] [-d] [--pid-file F]
                   [--console-socket S] [--preserve-fds N] ID [COMMAND ARGS...]
          state    ID                                  the OCI state as JSON
          kill     [-a] ID [SIGNAL]                    send a signal (default SIGTERM), -a: to every process
          delete   [-f] ID                             remove a stopped (or, with -f, any) container
          list     [-q] [-f table|json]
          ps       [-f table|json] ID                  processes in the container's cgroup
          pause    ID / resume ID                      freeze and thaw the container's cgroup
          update   [-r FILE|-] [--memory N] [--memory-swap N] [--memory-reservation N] [--cpu-shares N]
                   [--cpu-quota N] [--cpu-period N] [--cpuset-cpus L] [--cpuset-mems L] [--pids-limit N]
                   [--blkio-weight N] ID
          events   [--stats] [--interval 5s] ID        resource usage as JSON, once or every interval
          features                                     what this runtime supports, as JSON
        """;

    static StateStore store = null!;
    static bool systemdCgroup;

    public static int Run(string[] argv)
    {
        try
        {
            var root = "/run/berth-runc";
            string? logPath = null;
            var logFormat = "text";
            var debug = false;
            var i = 0;
            for (; i < argv.Length && argv[i].StartsWith('-'); i++)
            {
                var (flag, inline) = argv[i].IndexOf('=') is var eq and > 0 ? (argv[i][..eq], argv[i][(eq + 1)..]) : (argv[i], null);
                string Value() => inline ?? (i + 1 < argv.Length ? argv[++i] : throw new UsageException($"flag {flag} needs a value"));
                switch (flag)
                {
                    case "--root": root = Path.GetFullPath(Value()); break;
                    case "--log": logPath = Value(); break;
                    case "--log-format": logFormat = Value(); break;
                    case "--debug": debug = inline is null or "true"; break;
                    case "--systemd-cgroup": systemdCgroup = inline is null or "true"; break;
                    case "--criu": Value(); break;
                    case "--rootless":
                        if (Value() is var r && r is not ("false" or "auto"))
                            throw new UsageException($"--rootless {r}: rootless mode is not supported; run as root with --rootless false or auto");
                        break;
                    case "-v" or "--version": Console.WriteLine($"berth-runc version {Version}\nspec: 1.2.0"); return 0;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new UsageException($"flag provided but not defined: {argv[i]}");
                }
            }
            Log.Configure(logPath, logFormat, debug);
            if (i == argv.Length) { Console.Error.WriteLine(Usage); return 2; }
            Log.Debug($"berth-runc {string.Join(' ', argv)}");
            store = new StateStore(root);
            var command = argv[i];
            var a = new Args(argv[(i + 1)..].ToList());
            return command switch
            {
                "spec" => Spec(a),
                "create" => Create(a),
                "start" => Start(a),
                "run" => RunCommand(a),
                "exec" => Exec(a),
                "state" => State(a),
                "kill" => Kill(a),
                "delete" => Delete(a),
                "list" => List(a),
                "features" => Features(a),
                "ps" => Ps(a),
                "pause" => Pause(a, frozen: true),
                "resume" => Pause(a, frozen: false),
                "update" => Update(a),
                "events" => Events(a),
                "help" => Print(Usage),
                _ => throw new UsageException($"No help topic for '{command}'"),
            };
        }
        catch (Exception e) when (e is RuntimeException or SysException or SpecException or UsageException or IOException or UnauthorizedAccessException)
        {
            Log.Error(e.Message);
            return 1;
        }
    }

    static int Print(string text)
    {
        Console.WriteLine(text);
        return 0;
    }

    /// <summary>Writes a pid file the way runc does: to a temporary name, then renamed, so a reader never sees it half-written.</summary>
    static void WritePidFile(string? path, int pid)
    {
        if (path is null) return;
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full));
        File.WriteAllText(tmp, pid.ToString());
        File.Move(tmp, full, overwrite: true);
    }

    /// <summary>Forwards the signals a terminal or supervisor sends to us on to <paramref name="signal"/> while a foreground process runs.</summary>
    static IDisposable ForwardSignals(Action<int> signal)
    {
        var registrations = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT }
            .Select(s => PosixSignalRegistration.Create(s, ctx => { ctx.Cancel = true; signal(Number(ctx.Signal)); }))
            .ToList();
        return new Registrations(registrations);
    }

    sealed class Registrations(List<PosixSignalRegistration> all) : IDisposable
    {
        public void Dispose() => all.ForEach(r => r.Dispose());
    }

    static int Number(PosixSignal s) => s switch
    {
        PosixSignal.SIGINT => 2, PosixSignal.SIGTERM => 15, PosixSignal.SIGHUP => 1, PosixSignal.SIGQUIT => 3, _ => (int)s,
    };

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
        if (index > 0) return index;
        // SIGRTMIN is 34 on glibc (32 and 33 are the threading library's).
        if (name.StartsWith("RTMIN", StringComparison.Ordinal) && (name.Length == 5 || int.TryParse(name[5..], out _)))
            return 34 + (name.Length == 5 ? 0 : int.Parse(name[5..]));
        if (name.StartsWith("RTMAX", StringComparison.Ordinal) && (name.Length == 5 || int.TryParse(name[5..], out _)))
            return 64 + (name.Length == 5 ? 0 : int.Parse(name[5..]));
        throw new UsageException($"unknown signal \"{s}\"");
    }
}
