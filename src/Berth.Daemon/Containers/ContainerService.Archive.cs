using System.Text.Json;
using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Daemon.Images;
using Berth.Graph;

namespace Berth.Daemon.Containers;

/// <summary>The container jobs that treat a container's filesystem as content: export, changes (diff), commit, prune.</summary>
public sealed partial class ContainerService
{
    public async Task ExportAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        var body = await job.Stdout.StreamAsync("application/x-tar");
        await Task.Run(() => _images.ExportContainer(c.Id, body), job.Cancelled);
        await body.FlushAsync();
        Publish(c, "export");
    }

    public async Task ChangesAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        var changes = await Task.Run(() => _images.ContainerChanges(c.Id), job.Cancelled);
        var rows = changes.Select(ch => new FilesystemChange { Path = ch.Path, Kind = (int)ch.Kind }).ToList();
        await job.Stdout.JsonAsync(200, rows, ImagesJson.Default.ListFilesystemChange);
    }

    /// <summary>
    /// POST /commit. The new image's config is the container's, with any request Config fields and
    /// <c>changes</c> on top. A running container is frozen while its layer is read (<c>pause</c>,
    /// default true, as in Docker), so no file is caught half-written.
    /// </summary>
    public async Task CommitAsync(Job job)
    {
        var name = job.Env.Get("container") ?? throw ApiException.BadRequest("container is required");
        var c = _store.Get(name);
        string? reference = null;
        if (job.Env.Get("repo") is { } repo)
        {
            reference = job.Env.Get("tag") is { } tag ? $"{repo}:{tag}" : repo;
            try { Graph.References.Reference.Parse(reference); }
            catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }
        }
        var config = ToImageConfig(c.Record.Config);
        if (await JobJson.ReadAsync(job, ApiJson.Default.ContainerConfig, allowEmpty: true) is { } overrides)
            Overlay(config, ToImageConfig(overrides));
        foreach (var change in job.Env.GetAll("changes"))
        {
            try { ImportChanges.Apply(config, change); }
            catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }
        }
        var options = new CommitOptions
        {
            Config = config,
            Comment = job.Env.Get("comment"),
            Author = job.Env.Get("author"),
            CreatedBy = string.Join(' ', new[] { c.Record.Path }.Concat(c.Record.Args)),
            Reference = reference,
        };
        bool freeze = (!job.Env.Has("pause") || job.Env.GetBool("pause")) && c.State.Status == "running";
        var cgroup = freeze ? CgroupOf(c) : null;
        try
        {
            cgroup?.Freeze(true);
        }
        catch (Runtime.RuntimeException e) { throw new ApiException(500, $"Cannot pause container {c.Id} to commit it: {e.Message}"); }
        Graph.ImageRecord img;
        try { img = await Task.Run(() => _images.CommitContainer(c.Id, options), job.Cancelled); }
        finally { cgroup?.Freeze(false); }
        Publish(c, "commit", new() { ["comment"] = options.Comment ?? "", ["imageID"] = img.Id, ["imageRef"] = reference ?? "" });
        await job.Stdout.JsonAsync(201, new CommitResponse { Id = img.Id }, ImagesJson.Default.CommitResponse);
    }

    static ImageConfig ToImageConfig(ContainerConfig config) =>
        JsonSerializer.Deserialize(JsonSerializer.Serialize(config, ApiJson.Default.ContainerConfig), GraphJson.Default.ImageConfig)!;

    /// <summary>Docker's merge for commit: the fields a request's Config sets win over the container's.</summary>
    static void Overlay(ImageConfig target, ImageConfig request)
    {
        if (request.Cmd is { Count: > 0 }) target.Cmd = request.Cmd;
        if (request.Entrypoint is { Count: > 0 }) target.Entrypoint = request.Entrypoint;
        if (request.Env is { Count: > 0 }) target.Env = [.. (target.Env ?? []).Where(e => !request.Env.Any(r => r.Split('=')[0] == e.Split('=')[0])), .. request.Env];
        if (request.Labels is { Count: > 0 }) target.Labels = new(request.Labels.Concat((target.Labels ?? []).Where(l => !request.Labels.ContainsKey(l.Key))));
        if (request.ExposedPorts is { Count: > 0 }) target.ExposedPorts = request.ExposedPorts;
        if (request.Volumes is { Count: > 0 }) target.Volumes = request.Volumes;
        if (!string.IsNullOrEmpty(request.WorkingDir)) target.WorkingDir = request.WorkingDir;
        if (!string.IsNullOrEmpty(request.User)) target.User = request.User;
        if (!string.IsNullOrEmpty(request.StopSignal)) target.StopSignal = request.StopSignal;
    }

    /// <summary>POST /containers/prune: removes stopped containers matching the filters (<c>until</c>, <c>label</c>, <c>label!</c>).</summary>
    public async Task PruneAsync(Job job)
    {
        var filters = Filters.Parse(job.Env.Get("filters"));
        filters.Validate("until", "label", "label!");
        var until = PruneFilters.Until(filters, DateTimeOffset.UtcNow);
        var deleted = new List<string>();
        long reclaimed = 0;
        foreach (var c in _store.All)
        {
            if (c.IsRunning || c.State.Status == "removing") continue;
            if (until is { } u && c.Record.Created >= u) continue;
            if (!PruneFilters.MatchLabels(filters, c.Record.Config.Labels)) continue;
            long size = _images.ContainerLayerSize(c.Id);
            try { await DestroyAsync(c); }
            catch (ApiException) { continue; } // started or removed meanwhile: not prunable any more
            deleted.Add(c.Id);
            reclaimed += size;
        }
        _events.Publish("container", "prune", "", new() { ["reclaimed"] = reclaimed.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await job.Stdout.JsonAsync(200, new ContainerPruneReport { ContainersDeleted = deleted, SpaceReclaimed = reclaimed },
            ImagesJson.Default.ContainerPruneReport);
    }
}
