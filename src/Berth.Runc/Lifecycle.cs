using Berth.Interop;
using Berth.Runtime;
using Berth.Runtime.Cgroups;
using Berth.Runtime.Oci;

namespace Berth.Runc;

// spec, create, start, run, state, kill, delete, list: the commands containerd's runc shim drives.
static partial class Cli
{
    static int Spec(Args a)
    {
        var bundle = a.Value("-b", "--bundle") ?? ".";
        a.Switch("--rootless");
        var path = Path.Combine(bundle, "config.json");
        if (File.Exists(path)) throw new UsageException($"File {path} exists. Remove it first");
        var command = a.Rest("--args");
        a.NoMore();
        DefaultSpec.Create(command.Count > 0 ? command : null).Save(path);
        return 0;
    }

    /// <summary>The flags create and run share, and the container they make.</summary>
    static (LinuxContainer Container, ContainerState State) CreateContainer(Args a, bool waitForStartCommand)
    {
        var bundle = Path.GetFullPath(a.Value("-b", "--bundle") ?? ".");
        var pidFile = a.Value("--pid-file");
        var consoleSocket = a.Value("--console-socket");
        var preserveFds = a.IntValue("--preserve-fds", 0);
        // Berth always pivots (--no-pivot exists for ramfs roots, where pivot_root fails) and never
        // creates a session keyring, so both are what berth-runc does anyway.
        a.Switch("--no-pivot", "--no-new-keyring");
        var id = a.Id();
        a.NoMore();
        var spec = Berth.Runtime.Oci.Spec.Load(Path.Combine(bundle, "config.json"));
        if (spec.Process?.Terminal == true && consoleSocket is null)
            throw new UsageException("cannot allocate tty if runc will detach without setting console socket");
        if (spec.Process?.Terminal != true && consoleSocket is not null)
            throw new UsageException("cannot use console socket if runc will not detach or allocate tty");
        if (systemdCgroup && spec.Linux?.CgroupsPath is { Length: > 0 } cg)
            throw new UsageException($"--systemd-cgroup: berth-runc manages cgroups through cgroupfs only and cannot place cgroupsPath \"{cg}\" under systemd; run without --systemd-cgroup (dockerd: --exec-opt native.cgroupdriver=cgroupfs)");
        if (store.Load(id) is not null) throw new UsageException($"container with id exists: {id}");
        store.Reserve(id, spec);
        try
        {
            // Not disposed here: the container outlives this process, and `delete` cleans up.
            var container = LinuxContainer.Create(new CreateOptions
            {
                Id = id, BundleDir = bundle, Spec = spec, Stdio = new ContainerStdio(0, 1, 2),
                InitPath = Environment.ProcessPath, ConsoleSocket = consoleSocket is null ? null : Path.GetFullPath(consoleSocket),
                StartSocket = waitForStartCommand ? store.StartSocket(id) : null, PreserveFds = preserveFds,
            });
            var state = new ContainerState
            {
                Id = id, Pid = container.Pid, Bundle = bundle, Status = "created",
                Rootfs = Path.GetFullPath(spec.Root!.Path, bundle), Created = DateTime.UtcNow,
                CgroupsPath = spec.Linux?.CgroupsPath, Annotations = spec.Annotations,
                StartTime = StateStore.StartTimeOf(container.Pid) ?? 0,
            };
            try
            {
                store.Save(state);
                WritePidFile(pidFile, container.Pid);
            }
            catch
            {
                container.Dispose();
                throw;
            }
            return (container, state);
        }
        catch
        {
            store.Remove(id);
            throw;
        }
    }

    static int Create(Args a)
    {
        CreateContainer(a, waitForStartCommand: true);
        return 0;
    }

    static int Start(Args a)
    {
        var id = a.Id();
        a.NoMore();
        var state = store.Get(id);
        switch (state.Status)
        {
            case "stopped": throw new UsageException("cannot start a container that has stopped");
            case "running" or "paused": throw new UsageException("cannot start an already running container");
        }
        LinuxContainer.Start(store.StartSocket(id));
        state.Status = "running";
        store.Save(state);
        HookRunner.RunLoggingFailures("poststart", store.LoadSpec(id).Hooks?.Poststart, HookState(state));
        return 0;
    }

    static HookState HookState(ContainerState s) =>
        new() { Id = s.Id, Status = s.Status, Pid = s.Pid, Bundle = s.Bundle, Annotations = s.Annotations };

    static int RunCommand(Args a)
    {
        var detach = a.Switch("-d", "--detach");
        var keep = a.Switch("--keep");
        if (detach && keep) throw new UsageException("--detach and --keep cannot both be set");
        var (container, state) = CreateContainer(a, waitForStartCommand: false);
        try { container.Start(); }
        catch
        {
            container.Dispose();
            store.Remove(state.Id);
            throw;
        }
        state.Status = "running";
        store.Save(state);
        if (detach) return 0;

        int code;
        using (ForwardSignals(container.Signal)) code = container.WaitForExit();
        container.Dispose();
        if (!keep) store.Remove(state.Id);
        return code;
    }

    static int State(Args a)
    {
        var id = a.Id();
        a.NoMore();
        Console.WriteLine(StateJson.OciState.Serialize(store.Get(id).ToOci(), indented: true));
        return 0;
    }

    static int Kill(Args a)
    {
        var all = a.Switch("-a", "--all");
        var id = a.Id();
        var signal = ParseSignal(a.Positional() ?? "SIGTERM");
        a.NoMore();
        var state = store.Get(id);
        if (state.Status == "stopped" && !all) throw new UsageException("container not running");
        if (all && CgroupOf(state) is { } cgroup)
        {
            foreach (var pid in cgroup.Processes()) LibC.Kill(pid, signal);
            // Frozen tasks act on a signal only once thawed; runc thaws after signalling all too.
            if (state.Status == "paused" && signal == LibC.SIGKILL) cgroup.Freeze(false);
            return 0;
        }
        if (state.Status == "stopped") throw new UsageException("container not running");
        LibC.Check(LibC.Kill(state.Pid, signal), "kill", $"pid {state.Pid}");
        return 0;
    }

    static ICgroupManager? CgroupOf(ContainerState s) =>
        s.CgroupsPath is { Length: > 0 } path ? CgroupManager.ForPath(path) : null;

    static int Delete(Args a)
    {
        var force = a.Switch("-f", "--force");
        var id = a.Id();
        a.NoMore();
        var state = store.Load(id);
        if (state is null)
        {
            if (force) return 0;
            throw new UsageException($"container \"{id}\" does not exist");
        }
        var cgroup = CgroupOf(state);
        if (state.Status is "running" or "paused" && !force)
            throw new UsageException($"cannot delete container {id} that is not stopped: {state.Status}");
        if (state.Status != "stopped")
        {
            // A created container's init is only waiting for start; runc deletes those without --force too.
            LibC.Kill(state.Pid, LibC.SIGKILL);
            if (state.Status == "paused") cgroup?.Freeze(false);
            if (!StateStore.WaitGone(state, TimeSpan.FromSeconds(10))) throw new UsageException($"container {id}: init (pid {state.Pid}) did not die on SIGKILL");
        }
        cgroup?.Destroy();
        Berth.Runtime.Oci.Spec? spec = null;
        try { spec = store.LoadSpec(id); }
        catch (SpecException e) { Log.Warning($"delete {id}: poststop hooks skipped: {e.Message}"); }
        store.Remove(id);
        state.Status = "stopped";
        HookRunner.RunLoggingFailures("poststop", spec?.Hooks?.Poststop, HookState(state));
        return 0;
    }

    static int List(Args a)
    {
        var quiet = a.Switch("-q", "--quiet");
        var format = a.Value("-f", "--format") ?? "table";
        a.NoMore();
        var all = store.All().OrderBy(s => s.Created).ToList();
        switch (format)
        {
            case "json":
                Console.WriteLine(StateJson.OciStates.Serialize(all.Select(s => s.ToOci()).ToList(), indented: true));
                return 0;
            case "table":
                if (!quiet) Console.WriteLine($"{"ID",-20} {"PID",-8} {"STATUS",-10} {"BUNDLE",-40} {"CREATED",-30} OWNER");
                foreach (var s in all)
                    Console.WriteLine(quiet ? s.Id : $"{s.Id,-20} {(s.Status == "stopped" ? 0 : s.Pid),-8} {s.Status,-10} {s.Bundle,-40} {s.Created:O} root");
                return 0;
            default: throw new UsageException($"invalid format option \"{format}\"");
        }
    }
}
