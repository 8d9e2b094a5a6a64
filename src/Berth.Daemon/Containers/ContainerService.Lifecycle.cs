using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Runtime;
using Berth.Shim.Client;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon.Containers;

// Start, stop, kill, wait, restart; supervision of running containers through their shims, and
// restoring that supervision when berthd starts again.
public sealed partial class ContainerService
{
    public async Task StartJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        if (c.State.Status == "paused") throw ApiException.Conflict("cannot start a paused container, try unpause instead");
        if (c.IsRunning)
        {
            await job.Stdout.EmptyAsync(304);
            return;
        }
        try
        {
            await StartAsync(c);
        }
        catch (ApiException) when (c.Record.HostConfig.AutoRemove)
        {
            // As dockerd does: a --rm container that could not start is removed, so the client's
            // wait for "removed" ends.
            try { await DestroyAsync(c); }
            catch (Exception e) { LogAutoRemoveFailed(c.Id, e.Message); }
            throw;
        }
        await job.Stdout.EmptyAsync(204);
    }

    async Task StartAsync(Container c)
    {
        await c.Lock.WaitAsync();
        try
        {
            if (c.IsRunning) return;
            if (c.Removed.Task.IsCompleted || c.State.Status == "removing")
                throw ApiException.Conflict($"container {c.Id} is marked for removal and cannot be started");
            await LaunchAsync(c);
        }
        finally
        {
            c.Lock.Release();
        }
    }

    /// <summary>
    /// What the shim runs the container with: Berth's own runtime (berth-runc as the init stage), or
    /// the CLI of an OCI runtime registered with --add-runtime, which berth-shim then drives like runc.
    /// </summary>
    (string? InitPath, string? RuntimePath) RuntimeFor(ContainerRecord r)
    {
        if (r.Runtime == "native") return (Path.Combine(_options.BinDir, "berth-runc"), null);
        if (!_options.Runtimes.TryGetValue(r.Runtime, out var path))
            throw ApiException.BadRequest($"unknown or invalid runtime name: {r.Runtime}");
        if (!Path.IsPathRooted(path))
            path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                .Split(':').Select(dir => Path.Combine(dir, path)).FirstOrDefault(File.Exists)
                ?? throw ApiException.BadRequest($"runtime {r.Runtime}: {path} not found in PATH");
        return (null, path);
    }

    async Task LaunchAsync(Container c)
    {
        var r = c.Record;
        var files = FilesOf(c);
        var rootfs = _images.MountContainer(c.Id);
        ShimHandle? shim = null;
        bool networkPrepared = false;
        try
        {
            ResolvedUser user;
            try { user = UserResolver.Resolve(rootfs, r.Config.User, r.HostConfig.GroupAdd); }
            catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }
            var cwd = string.IsNullOrEmpty(r.Config.WorkingDir) ? "/" : r.Config.WorkingDir;
            if (!cwd.StartsWith('/')) throw ApiException.BadRequest($"the working directory '{cwd}' is invalid, it needs to be an absolute path");
            Directory.CreateDirectory(RootfsPath.SecureJoin(rootfs, cwd));

            var hostname = string.IsNullOrEmpty(r.Config.Hostname) ? c.ShortId : r.Config.Hostname;
            var h = r.HostConfig;
            string? joinNetns = null;
            IReadOnlyList<string> linkEnv = [];
            var netFiles = new SpecBuilder.Files(files.HostnamePath, files.HostsPath, files.ResolvConfPath);
            if (h.NetworkMode.StartsWith("container:", StringComparison.Ordinal))
            {
                // --network container:X shares X's namespace and, as in Docker, its hosts and resolv.conf.
                var target = _store.Get(h.NetworkMode["container:".Length..]);
                if (!target.IsRunning || target.State.Pid <= 0)
                    throw ApiException.Conflict($"cannot join network namespace of a non running container: container {target.Id} is {target.State.Status}");
                joinNetns = $"/proc/{target.State.Pid}/ns/net";
                var tf = FilesOf(target);
                files.WriteNetworkFiles(hostname, r.Config.Domainname, false, null, false, null, h.ExtraHosts, h.Dns, h.DnsSearch, h.DnsOptions);
                netFiles = new SpecBuilder.Files(files.HostnamePath, tf.HostsPath, tf.ResolvConfPath);
            }
            else
            {
                var net = _network.PrepareStart(c);
                networkPrepared = true;
                files.WriteNetworkFiles(hostname, r.Config.Domainname, h.NetworkMode == "host", net.Address, net.EmbeddedDns, net.HostGateway,
                    (h.ExtraHosts ?? []).Concat(net.LinkHosts), h.Dns, h.DnsSearch, h.DnsOptions, net.Address6);
                linkEnv = net.LinkEnv;
            }
            var spec = SpecBuilder.Build(r, rootfs, user, netFiles, joinNetns, linkEnv);
            Directory.CreateDirectory(files.StateDir);
            Directory.CreateDirectory(Path.GetDirectoryName(files.SocketPath)!);
            File.Delete(Path.Combine(files.StateDir, ExitInfo.FileName));
            spec.Save(Path.Combine(files.BundleDir, "config.json"));

            var runtime = RuntimeFor(r);
            try
            {
                shim = await _shims.LaunchAsync(new ShimLaunchOptions
                {
                    Id = c.Id,
                    BundleDir = files.BundleDir,
                    StateDir = files.StateDir,
                    SocketPath = files.SocketPath,
                    LogPath = r.HostConfig.LogConfig.Type == "none" ? "/dev/null" : files.LogPath,
                    InitPath = runtime.InitPath,
                    RuntimePath = runtime.RuntimePath,
                    OpenStdin = r.Config.OpenStdin,
                });
            }
            catch (ShimException e)
            {
                throw StartFailed(c, e.Message);
            }

            try { _network.Connect(c, shim.InitPid); }
            catch (Exception e)
            {
                try { await shim.Client.KillAsync(9); } catch (Exception) { }
                throw StartFailed(c, "setting up the container's network: " + e.Message);
            }

            // Attaches that came before start get their streams now, before the process runs,
            // so not a byte of output is lost.
            List<PendingAttach> pending;
            lock (c.PendingAttaches) { pending = c.PendingAttaches.ToList(); c.PendingAttaches.Clear(); }
            foreach (var p in pending)
            {
                try { p.Connected.TrySetResult(await shim.Client.AttachAsync(p.Stdin, p.Stdout, p.Stderr, r.Config.StdinOnce)); }
                catch (Exception e) { p.Connected.TrySetException(e); }
            }

            // Ask for the exit before the process can exit, so a short-lived container can't be
            // missed; exit.json covers the rest.
            var exited = shim.Client.WaitAsync(_shutdown.Token);
            try { await shim.Client.StartAsync(); }
            catch (ShimException e)
            {
                try { await shim.Client.KillAsync(9); } catch (Exception) { }
                throw StartFailed(c, e.Message);
            }

            lock (r)
            {
                r.State.Status = "running";
                r.State.Pid = shim.InitPid;
                r.State.StartedAt = DateTimeOffset.UtcNow;
                r.State.Error = "";
                r.State.ExitCode = 0;
                r.State.OOMKilled = false;
            }
            c.Shim = shim.Client;
            _store.Save(c);
            Publish(c, "start");
            _ = SuperviseAsync(c, exited);
        }
        catch
        {
            if (networkPrepared && c.Shim is null)
                await _network.Teardown(c);
            if (shim is null || c.Shim is null) _images.UnmountContainer(c.Id);
            lock (c.PendingAttaches)
            {
                foreach (var p in c.PendingAttaches) p.Connected.TrySetException(new OperationCanceledException("start failed"));
                c.PendingAttaches.Clear();
            }
            throw;
        }
    }

    /// <summary>
    /// Records a failed start the way Docker does: exit code 127 for a missing executable, 126 for
    /// one that can't be run, 128 otherwise; the error text goes to State.Error.
    /// </summary>
    ApiException StartFailed(Container c, string message)
    {
        int code = message.Contains("executable file not found", StringComparison.Ordinal) || message.Contains("no such file or directory", StringComparison.OrdinalIgnoreCase) ? 127
            : message.Contains("permission denied", StringComparison.OrdinalIgnoreCase) ? 126 : 128;
        lock (c.Record)
        {
            c.State.Status = c.State.StartedAt == default ? "created" : "exited";
            c.State.ExitCode = code;
            c.State.Error = message;
        }
        _store.Save(c);
        Publish(c, "die", new() { ["exitCode"] = code.ToString() });
        return new ApiException(400, "failed to create task for container: " + message);
    }

    async Task SuperviseAsync(Container c, Task<ExitInfo> exited)
    {
        ExitInfo? exit = null;
        try
        {
            exit = await exited;
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            return; // berthd is going away; the shim keeps the container and its status.
        }
        catch (Exception e)
        {
            LogShimLost(c.Id, e.Message);
            exit = ExitInfo.TryRead(FilesOf(c).StateDir);
        }
        await OnExitedAsync(c, exit);
    }

    async Task OnExitedAsync(Container c, ExitInfo? exit)
    {
        var r = c.Record;
        int code = exit?.ExitCode ?? 255;
        lock (r)
        {
            r.State.Status = "exited";
            r.State.Pid = 0;
            r.State.ExitCode = code;
            r.State.OOMKilled = exit?.OomKilled ?? false;
            r.State.FinishedAt = exit is null ? DateTimeOffset.UtcNow : new DateTimeOffset(DateTime.SpecifyKind(exit.FinishedAt, DateTimeKind.Utc));
            if (exit is null) r.State.Error = "the container's shim exited without reporting a status";
        }
        c.Shim = null;
        await _network.Teardown(c);
        try { _images.UnmountContainer(c.Id); }
        catch (Exception e) { LogUnmountFailed(c.Id, e.Message); }
        _store.Save(c);
        Publish(c, "die", new() { ["exitCode"] = code.ToString() });
        c.SignalExit(code);
        // With --rm the removal (which answers `run --rm`) goes before the clean-up below, which nothing waits for.
        if (r.HostConfig.AutoRemove)
        {
            try { await DestroyAsync(c); }
            catch (Exception e) { LogAutoRemoveFailed(c.Id, e.Message); }
        }
        TryDeleteStateDir(c);
        // The shim removes the cgroups it made; an OCI runtime such as runc also makes them in hierarchies Berth
        // doesn't use (name=systemd, the v2 tree) and may leave them behind when it is killed.
        try { Runtime.Cgroups.CgroupManager.TryRemoveEmpty(SpecBuilder.CgroupsPath(r)); }
        catch (Exception e) when (e is Runtime.RuntimeException or IOException) { }
    }

    void TryDeleteStateDir(Container c)
    {
        var files = FilesOf(c);
        try { if (Directory.Exists(files.StateDir)) Directory.Delete(files.StateDir, true); } catch (IOException) { }
        if (!files.SocketPath.StartsWith(files.StateDir, StringComparison.Ordinal)) try { File.Delete(files.SocketPath); } catch (IOException) { }
    }

    public async Task StopJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        if (!c.IsRunning)
        {
            await job.Stdout.EmptyAsync(304);
            return;
        }
        await StopAsync(c, job.Env.GetInt("t"), job.Env.Get("signal"));
        await job.Stdout.EmptyAsync(204);
    }

    /// <summary>The stop signal (default SIGTERM), then SIGKILL once the timeout (default 10 s) runs out.</summary>
    async Task StopAsync(Container c, int? timeout, string? signal)
    {
        var sig = Signals.Parse(signal ?? c.Record.Config.StopSignal ?? "SIGTERM");
        int t = timeout ?? c.Record.Config.StopTimeout ?? 10;
        var exited = c.NextExit;
        var shim = c.Shim;
        if (shim is null || !c.IsRunning) return;
        try { await shim.KillAsync(sig); }
        catch (ShimException) { }
        Thaw(c);
        if (t < 0) { await exited; return; }
        if (await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(t))) == exited) return;
        await KillAndWaitAsync(c, 9, TimeSpan.FromSeconds(30));
    }

    async Task KillAndWaitAsync(Container c, int signal, TimeSpan wait)
    {
        var exited = c.NextExit;
        var shim = c.Shim;
        if (shim is null || !c.IsRunning) return;
        try { await shim.KillAsync(signal); }
        catch (ShimException) { }
        Thaw(c);
        if (await Task.WhenAny(exited, Task.Delay(wait)) != exited)
            throw new ApiException(500, $"container {c.Id} did not exit within {wait.TotalSeconds:F0}s of signal {signal}");
    }

    public async Task KillJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        int sig;
        try { sig = Signals.Parse(job.Env.Get("signal") ?? "SIGKILL"); }
        catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }
        var shim = c.Shim;
        if (!c.IsRunning || shim is null)
            throw ApiException.Conflict($"Cannot kill container: {job.Arg(0)}: container {c.Id} is not running");
        await shim.KillAsync(sig);
        // A frozen process only acts on the signal once thawed, as with docker kill on a paused container.
        Thaw(c);
        Publish(c, "kill", new() { ["signal"] = sig.ToString() });
        await job.Stdout.EmptyAsync(204);
    }

    public async Task RestartJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        if (c.IsRunning) await StopAsync(c, job.Env.GetInt("t"), job.Env.Get("signal"));
        await StartAsync(c);
        Publish(c, "restart");
        await job.Stdout.EmptyAsync(204);
    }

    /// <summary>
    /// POST /containers/{id}/wait. The 200 header goes out at once, so the client knows the wait is
    /// registered before it starts the container; the body follows when the condition is met.
    /// </summary>
    public async Task WaitJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        var condition = job.Env.Get("condition") ?? "not-running";
        Task done = condition switch
        {
            "not-running" or "" => c.IsRunning ? c.NextExit : Task.CompletedTask,
            "next-exit" => c.NextExit,
            "removed" => c.Removed.Task,
            _ => throw ApiException.BadRequest($"invalid condition: \"{condition}\""),
        };
        var body = await job.Stdout.StreamAsync("application/json");
        await Task.WhenAny(done, Task.Delay(Timeout.Infinite, job.Cancelled));
        if (!done.IsCompleted) return;
        var reply = new ContainerWaitResponse { StatusCode = c.State.ExitCode };
        if (c.State.Error.Length > 0) reply.Error = new WaitError { Message = c.State.Error };
        await System.Text.Json.JsonSerializer.SerializeAsync(body, reply, ApiJson.Default.ContainerWaitResponse);
        await body.WriteAsync("\n"u8.ToArray());
        await body.FlushAsync();
    }

    /// <summary>
    /// Reconnects to the shims of containers that were running when berthd last stopped (live
    /// restore). A container whose shim is gone is marked exited, with the code its shim left in
    /// exit.json where it could.
    /// </summary>
    public async Task RestoreAsync()
    {
        SweepRemoved();
        foreach (var c in _store.All)
        {
            if (!c.IsRunning)
            {
                // A crash between mount and start can leave the rootfs mounted.
                try { _images.UnmountContainer(c.Id); } catch (Exception) { }
                continue;
            }
            var shim = new ShimClient(FilesOf(c).SocketPath);
            ShimState? state = null;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                state = await shim.StateAsync(cts.Token);
            }
            catch (Exception e) { LogShimLost(c.Id, e.Message); }
            if (state is not null && state.Status != "exited")
            {
                c.Shim = shim;
                try { _images.MountContainer(c.Id); } catch (Exception e) { LogUnmountFailed(c.Id, e.Message); }
                _ = SuperviseAsync(c, shim.WaitAsync(_shutdown.Token));
                continue;
            }
            var exit = ExitInfo.TryRead(FilesOf(c).StateDir);
            if (exit is null && state is { ExitCode: int code }) exit = new ExitInfo { ExitCode = code, FinishedAt = DateTime.UtcNow };
            await OnExitedAsync(c, exit);
        }
    }

    /// <summary>
    /// On a clean daemon shutdown, stop running containers as dockerd does, unless live restore
    /// is on; either way stop supervising.
    /// </summary>
    public async Task ShutdownAsync(bool liveRestore)
    {
        if (!liveRestore)
        {
            var running = _store.All.Where(c => c.IsRunning).ToList();
            await Task.WhenAll(running.Select(async c =>
            {
                try { await StopAsync(c, Math.Min(c.Record.Config.StopTimeout ?? 10, 10), null); }
                catch (Exception e) { LogStopFailed(c.Id, e.Message); }
            }));
        }
        _shutdown.Cancel();
        await _shims.DisposeAsync();
        // The shared parent cgroup goes too once no container (of this or another daemon) is in it.
        try { Runtime.Cgroups.CgroupManager.TryRemoveEmpty(SpecBuilder.DefaultCgroupParent); }
        catch (Exception e) when (e is Runtime.RuntimeException or IOException) { }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "lost the shim of container {Id}: {Error}")]
    partial void LogShimLost(string id, string error);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "unmounting container {Id} failed: {Error}")]
    partial void LogUnmountFailed(string id, string error);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "auto-remove of container {Id} failed: {Error}")]
    partial void LogAutoRemoveFailed(string id, string error);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "stopping container {Id} at shutdown failed: {Error}")]
    partial void LogStopFailed(string id, string error);
}
