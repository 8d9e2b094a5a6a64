using System.Text.Json;
using Berth.Api;
using Berth.Daemon.Containers;
using Berth.Daemon.Engine;
using Berth.Graph;
using Berth.Graph.Archive;

namespace Berth.Daemon.Images;

/// <summary>The image jobs: list, import, save, load, inspect, history, tag, remove. The Graph does the storing.</summary>
/// <remarks>A pull (<c>fromImage</c>) arrives on the same route as an import; <paramref name="pull"/> is the registry's job for it.</remarks>
public sealed class ImageService(ImageStore images, ContainerStore containers, EventBus events, Func<Job, Task> pull)
{
    public async Task ListAsync(Job job)
    {
        var filters = Filters.Parse(job.Env.Get("filters"));
        filters.Validate("dangling", "label", "before", "since", "reference", "until");
        bool all = job.Env.GetBool("all");
        var list = images.List();
        DateTimeOffset? before = filters.Get("before").Select(b => images.Get(b).Created).Cast<DateTimeOffset?>().FirstOrDefault();
        DateTimeOffset? since = filters.Get("since").Select(b => images.Get(b).Created).Cast<DateTimeOffset?>().FirstOrDefault();
        var usage = containers.All.GroupBy(c => c.Record.ImageId).ToDictionary(g => g.Key, g => g.LongCount());
        var rows = new List<ImageSummary>();
        foreach (var img in list.OrderByDescending(i => i.Created))
        {
            bool dangling = img.RepoTags.Count == 0 && img.RepoDigests.Count == 0;
            if (!filters.Match("dangling", v => (v is "true" or "1") == dangling)) continue;
            if (!filters.Match("label", v => PruneFilters.MatchLabel(img.Config.Labels, v))) continue;
            if (!filters.Match("reference", v => img.RepoTags.Any(t => MatchReference(t, v)))) continue;
            if (before is { } b && img.Created >= b) continue;
            if (since is { } s && img.Created <= s) continue;
            rows.Add(Summary(img, usage.GetValueOrDefault(img.Id)));
        }
        _ = all; // intermediate build layers don't exist yet, so -a lists the same images
        await job.Stdout.JsonAsync(200, rows, ApiJson.Default.ListImageSummary);
    }

    /// <summary>Docker matches reference filters as globs against the familiar name (and name:tag).</summary>
    static bool MatchReference(string repoTag, string pattern)
    {
        var name = repoTag.Contains(':') ? repoTag[..repoTag.LastIndexOf(':')] : repoTag;
        var regex = "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", "[^/]*").Replace("\\?", ".") + "$";
        return System.Text.RegularExpressions.Regex.IsMatch(repoTag, regex) || System.Text.RegularExpressions.Regex.IsMatch(name, regex);
    }

    /// <summary>POST /images/create: <c>fromSrc=-</c> imports the body as a rootfs tar (docker import); <c>fromImage</c> pulls.</summary>
    public async Task CreateAsync(Job job)
    {
        var fromSrc = job.Env.Get("fromSrc");
        var fromImage = job.Env.Get("fromImage");
        if (string.IsNullOrEmpty(fromSrc))
        {
            if (!string.IsNullOrEmpty(fromImage))
            {
                await pull(job);
                return;
            }
            throw ApiException.BadRequest("fromSrc or fromImage is required");
        }
        if (fromSrc != "-")
            throw ApiException.NotImplemented("importing from a URL is not supported; pipe the tar in with fromSrc=-");

        string? reference = null;
        var repo = job.Env.Get("repo");
        if (!string.IsNullOrEmpty(repo))
        {
            var tag = job.Env.Get("tag");
            reference = string.IsNullOrEmpty(tag) ? repo : $"{repo}:{tag}";
            try { Graph.References.Reference.Parse(reference); }
            catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }
        }
        var config = new ImageConfig();
        foreach (var change in job.Env.GetAll("changes"))
            ImportChanges.Apply(config, change);
        var message = job.Env.Get("message");
        var options = new ImportOptions
        {
            Reference = reference,
            Config = config,
            Comment = string.IsNullOrEmpty(message) ? "Imported from -" : message,
        };
        var record = await images.ImportAsync(job.Stdin, options, job.Cancelled);
        events.Publish("image", "import", record.Id, new() { ["name"] = record.Id });
        if (reference is not null) events.Publish("image", "tag", record.Id, new() { ["name"] = reference });
        var body = await job.Stdout.StreamAsync("application/json");
        await JsonSerializer.SerializeAsync(body, new JsonMessage { Status = record.Id }, ApiJson.Default.JsonMessage);
        await body.WriteAsync("\r\n"u8.ToArray());
        await body.FlushAsync();
    }

    /// <summary>GET /images/get?names=… and GET /images/{name}/get: a docker-archive of the named images.</summary>
    public async Task SaveAsync(Job job)
    {
        var names = job.Args.Count > 0 ? [job.Arg(0)] : job.Env.GetAll("names");
        if (names.Count == 0) throw ApiException.BadRequest("no images named to save");
        var targets = ImageArchive.Resolve(images, names);
        var body = await job.Stdout.StreamAsync("application/x-tar");
        await ImageArchive.SaveAsync(images, targets, body, job.Cancelled);
        await body.FlushAsync();
        foreach (var (img, tags) in targets)
            events.Publish("image", "save", img.Id, new() { ["name"] = tags.FirstOrDefault() ?? img.Id });
    }

    /// <summary>
    /// POST /images/load: the whole archive is loaded before the reply starts, so a bad archive gets a plain
    /// 400 and the store is unchanged; then Docker's "Loaded image: …" lines follow as a JSON message stream.
    /// </summary>
    public async Task LoadAsync(Job job)
    {
        var notes = new List<string>();
        var loaded = await ImageArchive.LoadAsync(images, job.Stdin, notes.Add, job.Cancelled);
        foreach (var img in loaded)
            events.Publish("image", "load", img.Id, new() { ["name"] = img.Tags.FirstOrDefault() ?? img.Id });
        var lines = notes.Concat(loaded.SelectMany(i => i.Tags.Count > 0
            ? i.Tags.Select(t => $"Loaded image: {t}")
            : [$"Loaded image ID: {i.Id}"]));
        var body = await job.Stdout.StreamAsync("application/json");
        foreach (var line in lines)
        {
            await JsonSerializer.SerializeAsync(body, new JsonMessage { Stream = line + "\n" }, ApiJson.Default.JsonMessage);
            await body.WriteAsync("\r\n"u8.ToArray());
        }
        await body.FlushAsync();
    }

    public async Task InspectAsync(Job job)
    {
        var img = images.Find(job.Arg(0)) ?? throw ApiException.NoSuchImage(job.Arg(0));
        await job.Stdout.JsonAsync(200, ToInspect(img), ApiJson.Default.ImageInspect);
    }

    /// <summary>One row of `docker images` (and of `system df`, which adds the shared size).</summary>
    static ImageSummary Summary(ImageRecord img, long containers) => new()
    {
        Id = img.Id,
        ParentId = img.Parent ?? "",
        RepoTags = img.RepoTags.ToList(),
        RepoDigests = img.RepoDigests.ToList(),
        Created = img.Created.ToUnixTimeSeconds(),
        Size = img.Size,
        VirtualSize = img.Size,
        Labels = img.Config.Labels,
        Containers = containers,
    };

    ImageInspect ToInspect(ImageRecord img) => new()
    {
        Id = img.Id,
        RepoTags = img.RepoTags.ToList(),
        RepoDigests = img.RepoDigests.ToList(),
        Parent = img.Parent ?? "",
        Comment = img.Comment ?? "",
        Created = Timestamps.Rfc3339Nano(img.Created),
        DockerVersion = img.DockerVersion,
        Author = img.Author ?? "",
        Config = ToContainerConfig(img.Config),
        Architecture = img.Architecture,
        Os = img.Os,
        Size = img.Size,
        VirtualSize = img.Size,
        GraphDriver = new GraphDriverData { Name = images.Driver.Name, Data = images.Driver.Metadata(img.TopLayerId).ToDictionary() },
        RootFS = new Api.RootFs { Type = "layers", Layers = img.DiffIds.ToList() },
    };

    /// <summary>The Graph keeps the image config in its own type; the wire shape is the same JSON.</summary>
    public static ContainerConfig ToContainerConfig(ImageConfig config) =>
        JsonSerializer.Deserialize(JsonSerializer.Serialize(config, GraphJson.Default.ImageConfig), ApiJson.Default.ContainerConfig)!;

    public async Task HistoryAsync(Job job)
    {
        var img = images.Find(job.Arg(0)) ?? throw ApiException.NoSuchImage(job.Arg(0));
        var rows = new List<ImageHistoryItem>();
        var history = img.History.Reverse().ToList();
        for (int i = 0; i < history.Count; i++)
        {
            var h = history[i];
            rows.Add(new ImageHistoryItem
            {
                Id = i == 0 ? img.Id : "<missing>",
                Created = h.Created is { } c ? Timestamps.Parse(c).ToUnixTimeSeconds() : 0,
                CreatedBy = h.CreatedBy ?? "",
                Tags = i == 0 ? img.RepoTags.ToList() : null,
                Size = h.EmptyLayer == true ? 0 : (i == 0 ? img.Size : 0),
                Comment = h.Comment ?? "",
            });
        }
        await job.Stdout.JsonAsync(200, rows, ApiJson.Default.ListImageHistoryItem);
    }

    public async Task TagAsync(Job job)
    {
        var repo = job.Env.Get("repo");
        if (string.IsNullOrEmpty(repo)) throw ApiException.BadRequest("repository name must have at least one component");
        var tag = job.Env.Get("tag");
        var target = string.IsNullOrEmpty(tag) ? repo : $"{repo}:{tag}";
        var img = images.Find(job.Arg(0)) ?? throw ApiException.NoSuchImage(job.Arg(0));
        images.Tag(img.Id, target);
        events.Publish("image", "tag", img.Id, new() { ["name"] = target });
        await job.Stdout.EmptyAsync(201);
    }

    public async Task DeleteAsync(Job job)
    {
        var name = job.Arg(0);
        if (images.Find(name) is null) throw ApiException.NoSuchImage(name);
        var deleted = images.Delete(name, job.Env.GetBool("force"), Usage);
        var rows = deleted.Select(d => new ImageDeleteResponseItem { Untagged = d.Untagged, Deleted = d.Deleted }).ToList();
        foreach (var d in deleted)
        {
            if (d.Untagged is not null) events.Publish("image", "untag", d.Untagged, new() { ["name"] = d.Untagged });
            if (d.Deleted is not null) events.Publish("image", "delete", d.Deleted, new() { ["name"] = d.Deleted });
        }
        await job.Stdout.JsonAsync(200, rows, ApiJson.Default.ListImageDeleteResponseItem);
    }

    /// <summary>
    /// POST /images/prune: images no container uses; only untagged ones unless <c>dangling=false</c>. A tagged
    /// image goes by untagging each of its tags (the last one deletes it), as Docker does.
    /// </summary>
    public async Task PruneAsync(Job job)
    {
        var filters = Filters.Parse(job.Env.Get("filters"));
        filters.Validate("dangling", "until", "label", "label!");
        bool danglingOnly = !filters.Get("dangling").Any(v => v is "false" or "0");
        var until = PruneFilters.Until(filters, DateTimeOffset.UtcNow);
        var used = containers.All.Select(c => c.Record.ImageId).ToHashSet();
        var deleted = new List<ImageDeleteResponseItem>();
        long reclaimed = 0;
        foreach (var img in images.List())
        {
            if (used.Contains(img.Id) || (danglingOnly && img.RepoTags.Count > 0)) continue;
            if (until is { } u && img.Created >= u) continue;
            if (!PruneFilters.MatchLabels(filters, img.Config.Labels)) continue;
            var layerSizes = images.LayerSizes(img.Id);
            try
            {
                var names = img.RepoTags.Count > 0 ? img.RepoTags.ToList() : [img.Id];
                foreach (var name in names)
                    foreach (var d in images.Delete(name, force: false, Usage))
                    {
                        deleted.Add(new ImageDeleteResponseItem { Untagged = d.Untagged, Deleted = d.Deleted });
                        if (d.Untagged is not null) events.Publish("image", "untag", img.Id, new() { ["name"] = d.Untagged });
                        if (d.Deleted is not null && layerSizes.TryGetValue(d.Deleted, out var size)) reclaimed += size;
                        if (d.Deleted == img.Id) events.Publish("image", "delete", img.Id, new() { ["name"] = img.Id });
                    }
            }
            catch (Graph.ConflictException) { } // a child image or a new container holds it: not prunable
        }
        events.Publish("image", "prune", "", new() { ["reclaimed"] = reclaimed.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await job.Stdout.JsonAsync(200, new ImagePruneReport { ImagesDeleted = deleted, SpaceReclaimed = reclaimed }, ImagesJson.Default.ImagePruneReport);
    }

    /// <summary>GET /system/df: images with how many containers use them and what they share, containers with their layer sizes.</summary>
    public async Task DiskUsageAsync(Job job)
    {
        var types = job.Env.GetAll("type");
        bool Want(string t) => types.Count == 0 || types.Contains(t);
        var all = images.List();
        var usage = containers.All.GroupBy(c => c.Record.ImageId).ToDictionary(g => g.Key, g => g.LongCount());
        var layerUse = new Dictionary<string, int>();
        var layerSize = new Dictionary<string, long>();
        var perImage = all.ToDictionary(i => i.Id, i => images.LayerSizes(i.Id));
        foreach (var sizes in perImage.Values)
            foreach (var (chain, size) in sizes)
            {
                layerUse[chain] = layerUse.GetValueOrDefault(chain) + 1;
                layerSize[chain] = size;
            }
        var report = new DiskUsage { LayersSize = layerSize.Values.Sum() };
        if (Want("image"))
            report.Images = all.Select(img =>
            {
                var row = Summary(img, usage.GetValueOrDefault(img.Id));
                row.SharedSize = perImage[img.Id].Where(l => layerUse[l.Key] > 1).Sum(l => l.Value);
                return row;
            }).ToList();
        if (Want("container"))
            report.Containers = containers.All.OrderByDescending(c => c.Record.Created).Select(c =>
            {
                var row = ContainerViews.Summary(c, images.Find(c.Record.ImageId)?.RepoTags.FirstOrDefault() ?? c.Record.Config.Image ?? c.Record.ImageId, ports: []);
                row.SizeRw = images.ContainerLayerSize(c.Id);
                row.SizeRootFs = row.SizeRw + (images.Find(c.Record.ImageId)?.Size ?? 0);
                return row;
            }).ToList();
        await job.Stdout.JsonAsync(200, report, ImagesJson.Default.DiskUsage);
    }

    /// <summary>Whether any container uses the image; a running one wins over a stopped one.</summary>
    ImageUse Usage(string imageId)
    {
        var users = containers.All.Where(c => c.Record.ImageId == imageId).ToList();
        if (users.FirstOrDefault(c => c.IsRunning) is { } running) return ImageUse.Running(running.Id);
        if (users.FirstOrDefault() is { } stopped) return ImageUse.Stopped(stopped.Id);
        return ImageUse.None;
    }
}
