using Berth.Runtime.Json;
using Berth.Runtime;
using Berth.Runtime.Oci;

namespace Berth.Runc;

// exec: another process in a running container, from --process FILE (what containerd's shim
// passes) or from the command line, where the spec's process is the template as in runc.
static partial class Cli
{
    static readonly string[] ExecValueFlags =
        ["-p", "--process", "--pid-file", "--console-socket", "--cwd", "-e", "--env", "-u", "--user", "-g", "--additional-gids",
         "-c", "--cap", "--preserve-fds", "--apparmor", "--process-label", "--cgroup"];

    static int Exec(Args a)
    {
        var command = a.AfterFirstPositional(ExecValueFlags);
        var processFile = a.Value("-p", "--process");
        var tty = a.Switch("-t", "--tty");
        var detach = a.Switch("-d", "--detach");
        var pidFile = a.Value("--pid-file");
        var consoleSocket = a.Value("--console-socket");
        var cwd = a.Value("--cwd");
        var env = a.Values("-e", "--env");
        var user = a.Value("-u", "--user");
        var gids = a.Values("-g", "--additional-gids");
        var caps = a.Values("-c", "--cap");
        var noNewPrivs = a.Switch("--no-new-privs");
        var preserveFds = a.IntValue("--preserve-fds", 0);
        var apparmor = a.Value("--apparmor");
        var label = a.Value("--process-label");
        var ignorePaused = a.Switch("--ignore-paused");
        if (a.Value("--cgroup") is { } sub) throw new UsageException($"--cgroup {sub}: exec into a sub-cgroup is not supported");
        var id = a.Id();
        a.NoMore();

        var state = store.Get(id);
        if (state.Status == "stopped") throw new UsageException("cannot exec in a stopped container");
        if (state.Status == "paused" && !ignorePaused) throw new UsageException("cannot exec in a paused container (use --ignore-paused to override)");
        var spec = store.LoadSpec(id);

        Berth.Runtime.Oci.Process process;
        if (processFile is not null)
        {
            if (command.Count > 0) throw new UsageException("--process and a command line cannot both be given");
            process = LoadProcess(processFile);
        }
        else
        {
            if (command.Count == 0) throw new UsageException("exec: a command is required (or --process FILE)");
            var rootfs = Path.GetFullPath(spec.Root?.Path ?? "rootfs", state.Bundle);
            process = FromTemplate(spec.Process ?? new Berth.Runtime.Oci.Process(), rootfs, command, tty, cwd, env, user, gids, caps, noNewPrivs);
            if (apparmor is not null) process.ApparmorProfile = apparmor;
            if (label is not null) process.SelinuxLabel = label;
        }
        if (process.Terminal && consoleSocket is null)
            throw new UsageException("cannot allocate tty if runc will detach without setting console socket");
        if (!process.Terminal && consoleSocket is not null)
            throw new UsageException("cannot use console socket if runc will not detach or allocate tty");

        var exec = LinuxContainer.ExecIn(new ExecOptions
        {
            Id = id, Pid = state.Pid, BundleDir = state.Bundle, Spec = spec, Process = process,
            Stdio = new ContainerStdio(0, 1, 2), InitPath = Environment.ProcessPath, PreserveFds = preserveFds,
            ConsoleSocket = consoleSocket is null ? null : Path.GetFullPath(consoleSocket),
        });
        WritePidFile(pidFile, exec.Pid);
        if (detach) return 0;
        using (ForwardSignals(exec.Signal)) return exec.WaitForExit();
    }

    static Berth.Runtime.Oci.Process LoadProcess(string path)
    {
        string text;
        try { text = path == "-" ? Console.In.ReadToEnd() : File.ReadAllText(path); }
        catch (IOException e) { throw new UsageException($"--process {path}: {e.Message}"); }
        try
        {
            return SpecJson.Process.Deserialize(text) ?? throw new UsageException($"--process {path}: the process is null");
        }
        catch (JsonCodecException e) { throw new UsageException($"--process {path}: {e.Message}"); }
    }

    /// <summary>
    /// --user: runc's numeric UID[:GID] (GID 0 when left out), or, beyond runc, a NAME[:GROUP] looked
    /// up in the container's /etc/passwd and /etc/group the way docker exec -u does, with the
    /// user's supplementary groups.
    /// </summary>
    static User ExecUser(string user, string rootfs, uint? umask)
    {
        var parts = user.Split(':');
        if (parts.Length > 2) throw new UsageException($"--user {user}: give UID[:GID] or NAME[:GROUP]");
        if (uint.TryParse(parts[0], out var uid) && (parts.Length == 1 || uint.TryParse(parts[1], out _)))
            return new User { Uid = uid, Gid = parts.Length == 2 ? uint.Parse(parts[1]) : 0, Umask = umask };
        ResolvedUser resolved;
        try { resolved = UserResolver.Resolve(rootfs, user); }
        catch (ArgumentException e) { throw new UsageException($"--user {user}: {e.Message}"); }
        return new User { Uid = resolved.Uid, Gid = resolved.Gid, AdditionalGids = resolved.AdditionalGids.Count > 0 ? [.. resolved.AdditionalGids] : null, Umask = umask };
    }

    /// <summary>runc's exec without --process: the container's own process with the command line's changes.</summary>
    static Berth.Runtime.Oci.Process FromTemplate(Berth.Runtime.Oci.Process template, string rootfs, List<string> command, bool tty, string? cwd,
        List<string> env, string? user, List<string> gids, List<string> caps, bool noNewPrivs)
    {
        var process = SpecJson.Process.Deserialize(SpecJson.Process.SerializeToUtf8Bytes(template));
        process.Args = command;
        process.Terminal = tty;
        process.ConsoleSize = null;
        if (cwd is not null) process.Cwd = cwd;
        var merged = new List<string>(process.Env ?? []);
        foreach (var e in env)
        {
            var key = e.Split('=')[0] + "=";
            merged.RemoveAll(x => x.StartsWith(key, StringComparison.Ordinal));
            merged.Add(e);
        }
        process.Env = merged;
        if (user is not null) process.User = ExecUser(user, rootfs, process.User.Umask);
        if (gids.Count > 0)
            process.User.AdditionalGids = gids.Select(g => uint.TryParse(g, out var n) ? n : throw new UsageException($"--additional-gids {g}: not a number")).ToList();
        if (caps.Count > 0)
        {
            var c = process.Capabilities ??= new Capabilities();
            foreach (var cap in caps.Select(x => x.ToUpperInvariant()).Select(x => x.StartsWith("CAP_", StringComparison.Ordinal) ? x : "CAP_" + x))
            {
                foreach (var set in new[] { c.Bounding ??= [], c.Effective ??= [], c.Permitted ??= [] })
                    if (!set.Contains(cap)) set.Add(cap);
            }
        }
        if (noNewPrivs) process.NoNewPrivileges = true;
        return process;
    }
}
