using Berth.Daemon.Containers;
using Berth.Daemon.Engine;
using Berth.Daemon.Images;
using Berth.Daemon.Registry;
using Berth.Daemon.Server;
using Berth.Daemon.SystemJobs;
using Berth.Graph;
using Berth.Registry;
using Berth.Registry.Transport;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon;

/// <summary>
/// The daemon, assembled: the Graph, the container store, the services that implement jobs, the
/// Engine's handler table (registered here, in one place), and the Server that feeds it.
/// </summary>
public sealed partial class BerthDaemon : IAsyncDisposable
{
    readonly DaemonOptions _options;
    readonly ILoggerFactory _loggers;
    readonly ILogger _log;
    ImageStore? _images;
    ContainerService? _containers;
    Network.NetworkService? _network;
    ApiServer? _server;
    RegistryTransport? _registry;
    FileStream? _lock;

    public Engine.Engine Engine { get; }
    public EventBus Events { get; } = new();

    public BerthDaemon(DaemonOptions options, ILoggerProvider logProvider)
    {
        _options = options;
        _loggers = LoggerFactory.Create(b => b.AddProvider(logProvider).SetMinimumLevel(options.LogLevel));
        _log = _loggers.CreateLogger("Berth.Daemon");
        Engine = new Engine.Engine(_loggers.CreateLogger<Engine.Engine>());
    }

    public async Task StartAsync()
    {
        Directory.CreateDirectory(_options.DataRoot);
        Directory.CreateDirectory(_options.ExecRoot);
        _lock = LockDataRoot(_options.DataRoot);
        if (_options.PidFile is { } pidFile)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(pidFile))!);
            File.WriteAllText(pidFile, Environment.ProcessId + "\n");
        }

        _images = ImageStore.Open(_options.DataRoot, _options.StorageDriver);
        var store = new ContainerStore(_images.Db);
        _network = new Network.NetworkService(_options, _images.Db, store, Events, _loggers.CreateLogger<Network.NetworkService>());
        _network.Initialize();
        _containers = new ContainerService(_options, store, _images, Events, _network, _loggers.CreateLogger<ContainerService>());
        _registry = new RegistryTransport(_options.Registry with { TempDir = _images.Content.TempDir });
        var registry = new RegistryService(_registry, new GraphImageStore(_images), Events);
        var images = new ImageService(_images, store, Events, registry.PullAsync);
        var system = new SystemService(_options, store, _images, Events, DaemonId());
        RegisterJobs(system, _containers, images, _network, registry);
        await _containers.RestoreAsync();
        _network.Reconcile();
        _images.ReconcileContainerLayers(store.All.Select(c => c.Id).ToHashSet());
        foreach (var problem in _images.Problems) LogStoreProblem(problem);

        _server = new ApiServer(_options, Engine, _loggers);
        _server.Start();
        LogListening(string.Join(", ", _options.Hosts), _images.Driver.Name);
    }

    /// <summary>The Engine's handler table: every job name the Server can start.</summary>
    void RegisterJobs(SystemService system, ContainerService c, ImageService i, Network.NetworkService n, RegistryService r)
    {
        var e = Engine;
        e.Register("ping", system.PingAsync);
        e.Register("version", system.VersionAsync);
        e.Register("info", system.InfoAsync);
        e.Register("events", system.EventsAsync);

        e.Register("containers", c.ListAsync);
        e.Register("create", c.CreateAsync);
        e.Register("container_inspect", c.InspectAsync);
        e.Register("start", c.StartJobAsync);
        e.Register("stop", c.StopJobAsync);
        e.Register("restart", c.RestartJobAsync);
        e.Register("kill", c.KillJobAsync);
        e.Register("wait", c.WaitJobAsync);
        e.Register("attach", c.AttachJobAsync);
        e.Register("logs", c.LogsJobAsync);
        e.Register("resize", c.ResizeJobAsync);
        e.Register("rename", c.RenameAsync);
        e.Register("rm", c.RemoveAsync);
        e.Register("pause", c.PauseJobAsync);
        e.Register("unpause", c.UnpauseJobAsync);
        e.Register("top", c.TopJobAsync);
        e.Register("stats", c.StatsJobAsync);
        e.Register("update", c.UpdateJobAsync);

        e.Register("images", i.ListAsync);
        e.Register("image_create", i.CreateAsync);
        e.Register("image_inspect", i.InspectAsync);
        e.Register("image_save", i.SaveAsync);
        e.Register("image_prune", i.PruneAsync);
        e.Register("system_df", i.DiskUsageAsync);
        e.Register("container_export", c.ExportAsync);
        e.Register("container_changes", c.ChangesAsync);
        e.Register("commit", c.CommitAsync);
        e.Register("container_prune", c.PruneAsync);
        e.Register("image_load", i.LoadAsync);
        e.Register("history", i.HistoryAsync);
        e.Register("tag", i.TagAsync);
        e.Register("image_delete", i.DeleteAsync);

        e.Register("networks", n.ListJobAsync);
        e.Register("network_inspect", n.InspectJobAsync);
        e.Register("network_create", n.CreateJobAsync);
        e.Register("network_rm", n.RemoveJobAsync);
        e.Register("network_connect", n.ConnectJobAsync);
        e.Register("network_disconnect", n.DisconnectJobAsync);
        e.Register("network_prune", n.PruneJobAsync);
        e.Register("image_push", r.PushAsync);
        e.Register("image_search", r.SearchAsync);
        e.Register("auth", r.AuthAsync);
    }

    /// <summary>One daemon per data root: a second berthd on the same root would corrupt it.</summary>
    static FileStream LockDataRoot(string dataRoot)
    {
        var path = Path.Combine(dataRoot, "berthd.lock");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new InvalidOperationException($"another berthd is using the data root {dataRoot}");
        }
    }

    /// <summary>
    /// The runtime removes each container's cgroup; the shared <c>berth</c> parent goes when the
    /// daemon stops and nothing is left in it (rmdir fails while another daemon's containers use it).
    /// </summary>
    static void RemoveCgroupParents()
    {
        foreach (var root in new[] { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" }.Concat(Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup") : []))
        {
            var dir = Path.Combine(root, "berth");
            try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: false); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    string DaemonId()
    {
        var path = Path.Combine(_options.DataRoot, "engine-id");
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        var id = Guid.NewGuid().ToString();
        File.WriteAllText(path, id);
        return id;
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
        if (_containers is not null) await _containers.ShutdownAsync(_options.LiveRestore);
        await Engine.ShutdownAsync();
        if (_network is not null) await _network.DisposeAsync();
        _images?.Dispose();
        _registry?.Dispose();
        RemoveCgroupParents();
        if (_options.PidFile is { } pidFile) try { File.Delete(pidFile); } catch (IOException) { }
        _lock?.Dispose();
        _loggers.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "berthd listening on {Hosts} (storage driver {Driver})")]
    partial void LogListening(string hosts, string driver);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "image store integrity: {Problem}")]
    partial void LogStoreProblem(string problem);
}
