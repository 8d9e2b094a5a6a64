using System.Text.RegularExpressions;
using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Graph;
using Berth.Shim.Client;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon.Containers;

/// <summary>
/// The container jobs: create, inspect, list, rename, remove. Lifecycle (start, stop, kill, wait,
/// exit handling, restore) is in ContainerService.Lifecycle.cs; streams (attach, logs, resize) in
/// ContainerService.Streams.cs.
/// </summary>
public sealed partial class ContainerService
{
    static readonly Regex ValidName = new("^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$", RegexOptions.Compiled);

    readonly DaemonOptions _options;
    readonly ContainerStore _store;
    readonly ImageStore _images;
    readonly EventBus _events;
    readonly Network.NetworkService _network;
    readonly ILogger _log;
    readonly CancellationTokenSource _shutdown = new();
    readonly ShimLauncher _shims;

    public ContainerService(DaemonOptions options, ContainerStore store, ImageStore images, EventBus events, Network.NetworkService network, ILogger<ContainerService> log)
    {
        _network = network;
        _options = options;
        _shims = new ShimLauncher(Path.Combine(options.BinDir, ShimProcess.ExecutableName), options.ExecRoot);
        _store = store;
        _images = images;
        _events = events;
        _log = log;
    }

    public ContainerStore Store => _store;

    ContainerFiles FilesOf(Container c) => FilesOf(c.Id);
    ContainerFiles FilesOf(string id) => new(_options.DataRoot, _options.ExecRoot, id);

    void Publish(Container c, string action, Dictionary<string, string>? extra = null)
    {
        var attrs = new Dictionary<string, string>
        {
            ["image"] = c.Record.Config.Image ?? "",
            ["name"] = c.Name.TrimStart('/'),
        };
        if (c.Record.Config.Labels is { } labels) foreach (var (k, v) in labels) attrs.TryAdd(k, v);
        if (extra is not null) foreach (var (k, v) in extra) attrs[k] = v;
        _events.Publish("container", action, c.Id, attrs);
    }

    public async Task CreateAsync(Job job)
    {
        var name = job.Env.Get("name");
        var req = await JobJson.ReadAsync(job, ApiJson.Default.ContainerCreateRequest)
            ?? throw ApiException.BadRequest("config cannot be empty in order to create a container");
        if (string.IsNullOrWhiteSpace(req.Config.Image)) throw ApiException.BadRequest("no image specified: the request's Image field is empty");

        if (!string.IsNullOrEmpty(name))
        {
            if (!ValidName.IsMatch(name))
                throw ApiException.BadRequest($"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
            name = "/" + name.TrimStart('/');
            if (_store.NameInUse(name)) throw _store.NameConflict(name);
        }
        else name = "/" + NameGenerator.Next(_store.NameInUse);

        var image = FindImage(req.Config.Image) ?? throw ApiException.NoSuchImage(FamiliarName(req.Config.Image));
        var host = req.HostConfig ?? new HostConfig();
        ValidateHostConfig(host);
        var config = MergeImageConfig(req.Config, image.Config);

        string path;
        List<string> args;
        var entrypoint = config.Entrypoint ?? new();
        var cmd = config.Cmd ?? new();
        if (entrypoint.Count > 0) { path = entrypoint[0]; args = entrypoint.Skip(1).Concat(cmd).ToList(); }
        else if (cmd.Count > 0) { path = cmd[0]; args = cmd.Skip(1).ToList(); }
        else throw ApiException.BadRequest("No command specified");

        var id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var record = new ContainerRecord
        {
            Id = id,
            Name = name,
            Created = DateTimeOffset.UtcNow,
            ImageId = image.Id,
            Path = path,
            Args = args,
            Config = config,
            HostConfig = host,
            Driver = _images.Driver.Name,
            Runtime = string.IsNullOrEmpty(host.Runtime) ? _options.DefaultRuntime : host.Runtime,
        };
        host.Runtime = record.Runtime;
        _network.PrepareCreate(record, req.NetworkingConfig);
        var c = new Container(record);
        _images.CreateContainerLayer(id, image.Id);
        try
        {
            Directory.CreateDirectory(FilesOf(c).Dir);
            _store.Add(c);
        }
        catch
        {
            _images.RemoveContainerLayer(id);
            FilesOf(c).RemoveAll();
            throw;
        }
        Publish(c, "create");
        await job.Stdout.JsonAsync(201, new ContainerCreateResponse { Id = id }, ApiJson.Default.ContainerCreateResponse);
    }

    ImageRecord? FindImage(string reference)
    {
        try { return _images.Find(reference); }
        catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }
    }

    /// <summary>"busybox" → "busybox:latest", as Docker prints image names in errors.</summary>
    static string FamiliarName(string reference)
    {
        try { return Graph.References.Reference.Parse(reference).WithDefaultTag().FamiliarString; }
        catch (Exception) { return reference; }
    }

    void ValidateHostConfig(HostConfig host)
    {
        if (string.IsNullOrEmpty(host.LogConfig.Type)) host.LogConfig.Type = "json-file";
        if (host.LogConfig.Type is not ("json-file" or "none"))
            throw ApiException.BadRequest($"logging driver \"{host.LogConfig.Type}\" is not supported: use json-file or none");
        if (string.IsNullOrEmpty(host.RestartPolicy.Name)) host.RestartPolicy.Name = "no";
        if (host.RestartPolicy.Name is not ("no" or "always" or "unless-stopped" or "on-failure"))
            throw ApiException.BadRequest($"invalid restart policy '{host.RestartPolicy.Name}'");
        if (host.AutoRemove && host.RestartPolicy.Name != "no")
            throw ApiException.BadRequest("can't create 'AutoRemove' container with restart policy");
        if (!string.IsNullOrEmpty(host.Runtime) && host.Runtime != "native" && !_options.Runtimes.ContainsKey(host.Runtime))
            throw ApiException.BadRequest($"unknown or invalid runtime name: {host.Runtime}");
        if (host.Memory is > 0 and < 6 * 1024 * 1024)
            throw ApiException.BadRequest("Minimum memory limit allowed is 6MB");
        if (host.MemorySwap > 0 && host.Memory == 0)
            throw ApiException.BadRequest("You should always set the Memory limit when using Memoryswap limit, see usage");
        if (host.MemorySwap > 0 && host.MemorySwap < host.Memory)
            throw ApiException.BadRequest("Minimum memoryswap limit should be larger than memory limit, see usage");
        if (host.MemorySwappiness is { } sw and (< -1 or > 100))
            throw ApiException.BadRequest($"Invalid value: {sw}, valid memory swappiness range is 0-100");
        if (host.NanoCpus > 0 && host.CpuPeriod > 0) throw ApiException.BadRequest("Conflicting options: Nano CPUs and CPU Period cannot both be set");
        if (host.NanoCpus > 0 && host.CpuQuota > 0) throw ApiException.BadRequest("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
        if (host.BlkioWeight is > 0 and (< 10 or > 1000)) throw ApiException.BadRequest("Range of blkio weight is from 10 to 1000");
        // Device paths, cgroup rules and security options are checked now, so a bad one fails create rather than a later start.
        SpecBuilder.ValidateResources(host);
        SecurityOptions.Parse(host.SecurityOpt).CheckHostSupport();
        if (host.Binds is { Count: > 0 } || host.Mounts is { Count: > 0 })
            throw ApiException.NotImplemented("volumes and bind mounts are not supported yet");
    }

    /// <summary>Docker's merge of the user's config over the image's (daemon/images: merge()).</summary>
    static ContainerConfig MergeImageConfig(ContainerConfig user, ImageConfig image)
    {
        if (user.Env is null || user.Env.Count == 0) user.Env = image.Env?.ToList() ?? new();
        else if (image.Env is not null)
        {
            var merged = image.Env.ToList();
            foreach (var e in user.Env)
            {
                var key = e.Split('=', 2)[0];
                merged.RemoveAll(x => x.Split('=', 2)[0] == key);
                merged.Add(e);
            }
            user.Env = merged;
        }
        // An explicitly empty entrypoint (--entrypoint "") clears the image's and keeps its Cmd out too.
        bool clearedEntrypoint = user.Entrypoint is { Count: 1 } ep && ep[0] == "";
        if (clearedEntrypoint) user.Entrypoint = null;
        else if (user.Entrypoint is null || user.Entrypoint.Count == 0)
        {
            if (user.Cmd is null || user.Cmd.Count == 0) user.Cmd = image.Cmd?.ToList();
            user.Entrypoint ??= image.Entrypoint?.ToList();
        }
        if (string.IsNullOrEmpty(user.WorkingDir)) user.WorkingDir = image.WorkingDir ?? "";
        if (string.IsNullOrEmpty(user.User)) user.User = image.User ?? "";
        if (string.IsNullOrEmpty(user.StopSignal)) user.StopSignal = string.IsNullOrEmpty(image.StopSignal) ? null : image.StopSignal;
        if (image.Labels is not null)
        {
            user.Labels ??= new();
            foreach (var (k, v) in image.Labels) user.Labels.TryAdd(k, v);
        }
        if (image.ExposedPorts is not null)
        {
            user.ExposedPorts ??= new();
            foreach (var k in image.ExposedPorts.Keys) user.ExposedPorts.TryAdd(k, new Api.EmptyObject());
        }
        if (image.Volumes is not null)
        {
            user.Volumes ??= new();
            foreach (var k in image.Volumes.Keys) user.Volumes.TryAdd(k, new Api.EmptyObject());
        }
        if (user.Shell is null && image.Shell is not null) user.Shell = image.Shell.ToList();
        if (user.OnBuild is null && image.OnBuild is not null) user.OnBuild = image.OnBuild.ToList();
        return user;
    }

    public async Task InspectAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        await job.Stdout.JsonAsync(200, ContainerViews.Inspect(c, FilesOf(c), c.Record.Driver, LayerMetadata(c.Id), _network.Settings(c)), ApiJson.Default.ContainerInspect);
    }

    Dictionary<string, string>? LayerMetadata(string containerId)
    {
        try { return _images.Driver.Metadata(containerId).ToDictionary(); }
        catch (Exception) { return null; }
    }

    public async Task ListAsync(Job job)
    {
        var filters = Filters.Parse(job.Env.Get("filters"));
        filters.Validate("id", "name", "status", "label", "exited", "ancestor", "before", "since", "health", "isolation", "network", "publish", "expose", "volume", "is-task");
        foreach (var s in filters.Get("status"))
            if (s is not ("created" or "restarting" or "running" or "removing" or "paused" or "exited" or "dead"))
                throw ApiException.BadRequest($"invalid filter 'status={s}'");
        bool all = job.Env.GetBool("all");
        int limit = job.Env.GetInt("limit") ?? -1;
        if (limit > 0) all = true;

        var candidates = _store.All.OrderByDescending(c => c.Record.Created).ToList();
        DateTimeOffset? before = filters.Get("before").Select(b => _store.Get(b).Record.Created).Cast<DateTimeOffset?>().FirstOrDefault();
        DateTimeOffset? since = filters.Get("since").Select(b => _store.Get(b).Record.Created).Cast<DateTimeOffset?>().FirstOrDefault();
        var ancestors = filters.Get("ancestor").Select(a => FindImage(a)?.Id).Where(a => a is not null).ToHashSet();

        var rows = new List<ContainerSummary>();
        foreach (var c in candidates)
        {
            var r = c.Record;
            var status = r.State.Status;
            if (!all && !filters.Has("status") && !c.IsRunning) continue;
            if (before is { } b && r.Created >= b) continue;
            if (since is { } s && r.Created <= s) continue;
            if (!filters.Match("id", v => r.Id.StartsWith(v, StringComparison.Ordinal))) continue;
            if (!filters.Match("name", v => Regex.IsMatch(r.Name.TrimStart('/'), v) || r.Name == v)) continue;
            if (!filters.Match("status", v => v == status)) continue;
            if (!filters.Match("exited", v => status == "exited" && int.TryParse(v, out var code) && code == r.State.ExitCode)) continue;
            if (filters.Has("ancestor") && !ancestors.Contains(r.ImageId)) continue;
            if (!filters.Match("label", v => MatchLabel(r.Config.Labels, v))) continue;
            rows.Add(ContainerViews.Summary(c, r.Config.Image ?? r.ImageId, _network.PortSummaries(c)));
            if (limit > 0 && rows.Count >= limit) break;
        }
        await job.Stdout.JsonAsync(200, rows, ApiJson.Default.ListContainerSummary);
    }

    static bool MatchLabel(Dictionary<string, string>? labels, string filter)
    {
        if (labels is null) return false;
        var kv = filter.Split('=', 2);
        return labels.TryGetValue(kv[0], out var v) && (kv.Length == 1 || v == kv[1]);
    }

    public async Task RenameAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        var newName = job.Env.Get("name");
        if (string.IsNullOrEmpty(newName)) throw ApiException.BadRequest("Neither old nor new names may be empty");
        if (!ValidName.IsMatch(newName))
            throw ApiException.BadRequest($"Invalid container name ({newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        newName = "/" + newName.TrimStart('/');
        var oldName = c.Name;
        if (oldName == newName) throw ApiException.Conflict($"Renaming a container with the same name as its current name");
        _store.Rename(c, newName);
        Publish(c, "rename", new() { ["oldName"] = oldName });
        await job.Stdout.EmptyAsync(204);
    }

    public async Task RemoveAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        bool force = job.Env.GetBool("force");
        if (c.IsRunning)
        {
            if (!force)
                throw ApiException.Conflict($"cannot remove container \"{c.Name}\": container is running: stop the container before removing or force remove");
            await KillAndWaitAsync(c, 9, TimeSpan.FromSeconds(30));
        }
        await DestroyAsync(c);
        await job.Stdout.EmptyAsync(204);
    }

    /// <summary>The read-write layer and the directories of a container whose record is gone.</summary>
    void DeleteLeftovers(string id)
    {
        try { _images.RemoveContainerLayer(id); }
        catch (Exception e) { LogAutoRemoveFailed(id, e.Message); }
        FilesOf(id).RemoveAll();
    }

    /// <summary>Finishes removals a crash cut short: a container directory without a record.</summary>
    void SweepRemoved()
    {
        var dir = Path.Combine(_options.DataRoot, "containers");
        if (!Directory.Exists(dir)) return;
        foreach (var path in Directory.GetDirectories(dir))
        {
            var id = Path.GetFileName(path);
            if (_store.Find(id) is null) DeleteLeftovers(id);
        }
    }

    /// <summary>Removes a stopped container: its layer, files and record. Idempotent.</summary>
    async Task DestroyAsync(Container c)
    {
        await c.Lock.WaitAsync();
        try
        {
            if (c.Removed.Task.IsCompleted) return;
            if (c.IsRunning) throw ApiException.Conflict($"cannot remove container \"{c.Name}\": container is running");
            c.State.Status = "removing";
            // The record goes first and waiters (`run --rm`) are answered then; the layer and the
            // container's directory are deleted after. A crash in between leaves the directory,
            // which SweepRemoved finds at the next start and finishes off.
            _store.Remove(c);
            Publish(c, "destroy");
            c.Removed.TrySetResult();
            DeleteLeftovers(c.Id);
        }
        finally
        {
            c.Lock.Release();
        }
    }
}
