using System.Globalization;
using Berth.Api;
using Berth.Cli.Formatting;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

/// <summary>Commands about what containers and images occupy: export, diff, commit, prune, system df.</summary>
public static class StorageCommands
{
    public static IEnumerable<Command> All() => new Command[]
    {
        new("export", "export [OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive",
            new Flag[] { new("output", 'o') }, Export, MinArgs: 1, MaxArgs: 1),
        new("diff", "diff CONTAINER", "Inspect changes to files or directories on a container's filesystem",
            Array.Empty<Flag>(), Diff, MinArgs: 1, MaxArgs: 1),
        new("commit", "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes",
            new Flag[] { new("author", 'a'), new("change", 'c'), new("message", 'm'), new("pause", 'p', true) }, Commit, MinArgs: 1, MaxArgs: 2),
        new("container prune", "container prune [OPTIONS]", "Remove all stopped containers",
            new Flag[] { new("force", 'f', true), new("filter") }, ContainerPrune, MaxArgs: 0),
        new("image prune", "image prune [OPTIONS]", "Remove unused images",
            new Flag[] { new("all", 'a', true), new("force", 'f', true), new("filter") }, ImagePrune, MaxArgs: 0),
        new("system df", "system df [OPTIONS]", "Show docker disk usage",
            new Flag[] { new("verbose", 'v', true), new("format") }, DiskUsage, MaxArgs: 0),
    };

    static async Task<int> Export(Cli c, ParsedArgs p)
    {
        var output = p.Get("output");
        if (output is null && Terminal.Tty.IsTerminal(Terminal.Tty.Stdout))
        {
            c.Err.WriteLine("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            return 1;
        }
        await using var resp = await c.Client.SendAsync("GET", $"/containers/{p.Positionals[0]}/export");
        if (output is null) await resp.Body.CopyToAsync(c.StdoutStream);
        else await ImageCommands.CopyToFileAsync(resp.Body, output);
        return 0;
    }

    static async Task<int> Diff(Cli c, ParsedArgs p)
    {
        var changes = await c.Client.GetJsonAsync($"/containers/{p.Positionals[0]}/changes", null, ImagesJson.Default.ListFilesystemChange);
        foreach (var ch in changes ?? [])
            c.Out.WriteLine((ch.Kind switch { 0 => "C", 1 => "A", 2 => "D", _ => "?" }) + " " + ch.Path);
        return 0;
    }

    static async Task<int> Commit(Cli c, ParsedArgs p)
    {
        var q = new Query().Add("container", p.Positionals[0]);
        if (p.Positionals.Count == 2)
        {
            var r = ImageRef.Parse(p.Positionals[1]);
            if (r.Digest is not null) throw new UsageException("refusing to create a tag with a digest reference");
            q.Add("repo", r.FullName).Add("tag", r.Tag);
        }
        q.Add("comment", p.Get("message")).Add("author", p.Get("author")).Add("pause", p.Get("pause") is null || p.Bool("pause") ? "1" : "0");
        foreach (var change in p.All("change")) q.Add("changes", change);
        var resp = await c.Client.PostJsonAsync("/commit", q, "null"u8.ToArray(), ImagesJson.Default.CommitResponse);
        c.Out.WriteLine(resp.Id);
        return 0;
    }

    /// <summary>docker's prune prompt: anything but y/yes cancels.</summary>
    internal static bool Confirm(Cli c, string warning)
    {
        c.Out.Write(warning + "\nAre you sure you want to continue? [y/N] ");
        c.Out.Flush();
        var answer = Console.In.ReadLine()?.Trim().ToLowerInvariant();
        return answer is "y" or "yes";
    }

    static async Task<int> ContainerPrune(Cli c, ParsedArgs p)
    {
        if (!p.Bool("force") && !Confirm(c, "WARNING! This will remove all stopped containers.")) return 0;
        var q = new Query().Add("filters", ContainerCommands.ParseFilters(p.All("filter")));
        var report = await c.Client.PostJsonAsync("/containers/prune", q, null, ImagesJson.Default.ContainerPruneReport);
        if (report.ContainersDeleted is { Count: > 0 } ids)
            c.Out.WriteLine("Deleted Containers:\n" + string.Concat(ids.Select(id => id + "\n")));
        c.Out.WriteLine("Total reclaimed space: " + Units.HumanSize(report.SpaceReclaimed));
        return 0;
    }

    static async Task<int> ImagePrune(Cli c, ParsedArgs p)
    {
        bool all = p.Bool("all");
        var warning = all
            ? "WARNING! This will remove all images without at least one container associated to them."
            : "WARNING! This will remove all dangling images.";
        if (!p.Bool("force") && !Confirm(c, warning)) return 0;
        var filters = p.All("filter").ToList();
        filters.Add("dangling=" + (all ? "false" : "true"));
        var q = new Query().Add("filters", ContainerCommands.ParseFilters(filters));
        var report = await c.Client.PostJsonAsync("/images/prune", q, null, ImagesJson.Default.ImagePruneReport);
        if (report.ImagesDeleted is { Count: > 0 } items)
            c.Out.WriteLine("Deleted Images:\n" + string.Concat(items.Select(i => i.Untagged is { Length: > 0 } u ? $"untagged: {u}\n" : $"deleted: {i.Deleted}\n")));
        c.Out.WriteLine("Total reclaimed space: " + Units.HumanSize(report.SpaceReclaimed));
        return 0;
    }

    static readonly Row DfHeaders = new() { ["Type"] = "TYPE", ["TotalCount"] = "TOTAL", ["Active"] = "ACTIVE", ["Size"] = "SIZE", ["Reclaimable"] = "RECLAIMABLE" };

    static async Task<int> DiskUsage(Cli c, ParsedArgs p)
    {
        var du = await c.Client.GetJsonAsync("/system/df", null, ImagesJson.Default.DiskUsage);
        if (p.Bool("verbose"))
        {
            WriteVerbose(c, du);
            return 0;
        }
        long used = du.Images.Where(i => i.Containers > 0 && i.SharedSize >= 0).Sum(i => i.Size - i.SharedSize);
        long containerSize = du.Containers.Sum(x => x.SizeRw ?? 0);
        long containerReclaimable = du.Containers.Where(x => !IsActive(x)).Sum(x => x.SizeRw ?? 0);
        var rows = new[]
        {
            DfRow("Images", du.Images.Count, du.Images.Count(i => i.Containers > 0), du.LayersSize, du.LayersSize - used, du.LayersSize),
            DfRow("Containers", du.Containers.Count, du.Containers.Count(IsActive), containerSize, containerReclaimable, containerSize),
            DfRow("Local Volumes", du.Volumes.Count, 0, 0, 0, 0),
            DfRow("Build Cache", du.BuildCache.Count, 0, du.BuilderSize, 0, 0),
        };
        var format = p.Get("format");
        if (format is null or "table") format = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
        else if (format == "json") format = "{{json .}}";
        c.WriteFormatted(format, rows, DfHeaders);
        return 0;
    }

    static bool IsActive(ContainerSummary s) => s.State is "running" or "paused" or "restarting";

    /// <summary>One line of the summary; the percentage appears only when there is a total to take it of.</summary>
    static Row DfRow(string type, int total, int active, long size, long reclaimable, long ofTotal) => new()
    {
        ["Type"] = type,
        ["TotalCount"] = total.ToString(CultureInfo.InvariantCulture),
        ["Active"] = active.ToString(CultureInfo.InvariantCulture),
        ["Size"] = Units.HumanSize(size),
        ["Reclaimable"] = ofTotal > 0 ? $"{Units.HumanSize(reclaimable)} ({reclaimable * 100 / ofTotal}%)" : Units.HumanSize(reclaimable),
    };

    static void WriteVerbose(Cli c, DiskUsage du)
    {
        var now = DateTimeOffset.UtcNow;
        var sb = new System.Text.StringBuilder("REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n");
        foreach (var i in du.Images)
        {
            var created = Units.HumanDuration(now - DateTimeOffset.FromUnixTimeSeconds(i.Created)) + " ago";
            var tags = i.RepoTags.Count > 0 ? i.RepoTags : ["<none>:<none>"];
            foreach (var t in tags)
            {
                int colon = t.LastIndexOf(':');
                sb.Append(t[..colon]).Append('\t').Append(t[(colon + 1)..]).Append('\t').Append(ContainerCommands.ShortId(i.Id)).Append('\t')
                  .Append(created).Append('\t').Append(Units.HumanSize(i.Size)).Append('\t').Append(Units.HumanSize(i.SharedSize)).Append('\t')
                  .Append(Units.HumanSize(i.Size - i.SharedSize)).Append('\t').Append(i.Containers).Append('\n');
            }
        }
        c.Out.Write("Images space usage:\n\n" + TabWriter.Format(sb.ToString()));
        sb.Clear().Append("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n");
        foreach (var x in du.Containers)
            sb.Append(ContainerCommands.ShortId(x.Id)).Append('\t').Append(x.Image).Append('\t')
              .Append(ContainerCommands.GoQuote(ContainerCommands.Ellipsis(x.Command, 20))).Append('\t').Append(x.Mounts.Count).Append('\t')
              .Append(Units.HumanSize(x.SizeRw ?? 0)).Append('\t')
              .Append(Units.HumanDuration(now - DateTimeOffset.FromUnixTimeSeconds(x.Created)) + " ago").Append('\t')
              .Append(x.Status).Append('\t').Append(string.Join(",", x.Names.Select(n => n.TrimStart('/')))).Append('\n');
        c.Out.Write("\nContainers space usage:\n\n" + TabWriter.Format(sb.ToString()));
        c.Out.Write("\nLocal Volumes space usage:\n\n" + TabWriter.Format("VOLUME NAME\tLINKS\tSIZE\n"));
        c.Out.Write("\nBuild cache usage: 0B\n\n" + TabWriter.Format("CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n"));
    }
}
