using System.Net.Sockets;
using Berth.Interop;
using Berth.Runtime;
using Berth.Shim.Client;

namespace Berth.Shim;

/// <summary>The shim's lifecycle: create the container and its stdio, serve the socket, and on exit record the result and clean up.</summary>
public sealed class ShimHost
{
    /// <summary>How long output may keep flowing after the init exits (from processes that escaped its pid namespace).</summary>
    static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);
    /// <summary>How long attach and wait clients get to receive their last bytes before the shim exits.</summary>
    static readonly TimeSpan FinishTimeout = TimeSpan.FromSeconds(10);

    readonly ShimArguments _args;
    readonly IRuntimeContainer _container;
    readonly ContainerIo _io;
    readonly JsonFileLogWriter _log;
    readonly Socket _listener;

    public ShimContainer Container { get; }

    ShimHost(ShimArguments args, IRuntimeContainer container, ContainerIo io, JsonFileLogWriter log, Socket listener)
    {
        _args = args;
        _container = container;
        _io = io;
        _log = log;
        _listener = listener;
        Container = new ShimContainer(container, io);
    }

    /// <summary>Creates everything, or on failure undoes what it did and throws: no container, no files.</summary>
    public static ShimHost Create(ShimArguments args)
    {
        var undo = new Stack<Action>();
        try
        {
            Directory.CreateDirectory(args.StateDir);
            var spec = Berth.Runtime.Oci.Spec.Load(Path.Combine(args.Bundle, "config.json"));
            bool tty = spec.Process?.Terminal == true;

            bool logExisted = File.Exists(args.Log);
            var log = new JsonFileLogWriter(args.Log);
            undo.Push(() => { log.Dispose(); if (!logExisted) File.Delete(args.Log); });
            // A tty container's pty is made by init inside the container; its master comes back from create.
            var pipes = tty ? null : ContainerIo.CreatePipes(args.OpenStdin);
            if (pipes is not null) undo.Push(pipes.Dispose);

            var stdio = pipes?.ForContainer ?? new ContainerStdio(-1, -1, -1);
            IRuntimeContainer container = args.Runtime is { } runtime
                ? OciRuntimeContainer.Create(runtime, args.StateDir, args.Id, args.Bundle, stdio, tty, spec.Linux?.CgroupsPath)
                : new NativeContainer(LinuxContainer.Create(new CreateOptions
                {
                    Id = args.Id, BundleDir = args.Bundle, Spec = spec, Stdio = stdio, InitPath = args.InitPath,
                }));
            // Dispose kills an init that was never started and removes its cgroup.
            undo.Push(container.Dispose);
            var io = pipes ?? ContainerIo.ForConsole(container.TakeConsole() ?? throw new RuntimeException("init made no console"), args.OpenStdin);
            if (pipes is null) undo.Push(io.Dispose);
            io.CloseContainerEnds();

            WriteFile(args.StateDir, "shim.pid", Environment.ProcessId.ToString(), undo);
            WriteFile(args.StateDir, "init.pid", container.Pid.ToString(), undo);
            var listener = ShimServer.Listen(args.Socket);
            undo.Push(() => { listener.Dispose(); File.Delete(args.Socket); });
            return new ShimHost(args, container, io, log, listener);
        }
        catch
        {
            while (undo.TryPop(out var action))
            {
                try { action(); } catch (Exception) { /* keep undoing; the original error is what matters */ }
            }
            throw;
        }
    }

    static void WriteFile(string dir, string name, string content, Stack<Action> undo)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, content);
        undo.Push(() => File.Delete(path));
    }

    /// <summary>
    /// Cuts the shim loose from whatever started it: stdin from /dev/null, stdout and stderr to the shim's own
    /// log. The daemon reading our stdout may die, and its terminal must not be held open by us.
    /// </summary>
    public static void DetachStdio(string logPath)
    {
        using var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Read);
        using var log = File.OpenHandle(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        LibC.Check(LibC.Dup2((int)devNull.DangerousGetHandle(), 0), "dup2", "/dev/null");
        LibC.Check(LibC.Dup2((int)log.DangerousGetHandle(), 1), "dup2", logPath);
        LibC.Check(LibC.Dup2((int)log.DangerousGetHandle(), 2), "dup2", logPath);
    }

    bool OomKilled()
    {
        try { return _container.Cgroup?.OomKilled() ?? false; }
        catch (Exception e) { Log($"reading the OOM count failed: {e.Message}"); return false; }
    }

    public async Task<int> RunAsync()
    {
        var hub = new OutputHub(_log, _io.Tty);
        var pumps = _io.Outputs.Select(o => OutputHub.Pump(o.Source, o.Stream, hub)).ToArray();
        var server = new ShimServer(Container, hub, Log);
        var serving = server.ServeAsync(_listener);

        int exitCode = await Task.Factory.StartNew(_container.WaitForExit, CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        var info = new ExitInfo { ExitCode = exitCode, FinishedAt = DateTime.UtcNow, OomKilled = OomKilled() };
        try
        {
            info.WriteAtomically(_args.StateDir);
        }
        catch (Exception e)
        {
            Log($"writing {ExitInfo.FileName} failed: {e.Message}");
        }
        server.Exited(info);

        await Task.WhenAny(Task.WhenAll(pumps), Task.Delay(DrainTimeout)).ConfigureAwait(false);
        hub.End();
        await server.FinishConnectionsAsync(FinishTimeout).ConfigureAwait(false);
        server.StopAccepting();
        await serving.ConfigureAwait(false);

        try
        {
            _container.Dispose();
        }
        catch (Exception e)
        {
            Log($"destroy failed: {e.Message}");
        }
        _io.Dispose();
        _log.Dispose();
        File.Delete(_args.Socket);
        Log($"container exited with {exitCode}");
        return 0;
    }

    static void Log(string message) =>
        Console.Error.WriteLine($"{Rfc3339Nano.Format(DateTime.UtcNow)} {message}");
}
