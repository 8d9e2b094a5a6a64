using System.Globalization;
using Berth.Api;
using Berth.Cli.Formatting;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

public static class ImageCommands
{
    public static IEnumerable<Command> All() => new Command[]
    {
        new("images", "images [OPTIONS] [REPOSITORY[:TAG]]", "List images",
            new Flag[] { new("all", 'a', true), new("quiet", 'q', true), new("no-trunc", IsBool: true), new("digests", IsBool: true), new("filter", 'f'), new("format") },
            Images, MaxArgs: 1),
        new("import", "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image",
            new Flag[] { new("change", 'c'), new("message", 'm'), new("platform") }, Import, MinArgs: 1, MaxArgs: 2),
        new("rmi", "rmi [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
            new Flag[] { new("force", 'f', true), new("no-prune", IsBool: true) }, Rmi, MinArgs: 1),
        new("save", "save [OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)",
            new Flag[] { new("output", 'o'), new("platform") }, Save, MinArgs: 1),
        new("load", "load [OPTIONS]", "Load an image from a tar archive or STDIN",
            new Flag[] { new("input", 'i'), new("quiet", 'q', true), new("platform") }, Load, MaxArgs: 0),
        new("tag", "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
            Array.Empty<Flag>(), Tag, MinArgs: 2, MaxArgs: 2),
    };

    static readonly Row Headers = new()
    {
        ["ID"] = "IMAGE ID", ["Repository"] = "REPOSITORY", ["Tag"] = "TAG", ["Digest"] = "DIGEST",
        ["CreatedSince"] = "CREATED", ["CreatedAt"] = "CREATED AT", ["Size"] = "SIZE", ["VirtualSize"] = "VIRTUAL SIZE",
        ["SharedSize"] = "SHARED SIZE", ["UniqueSize"] = "UNIQUE SIZE", ["Containers"] = "CONTAINERS",
    };

    static async Task<int> Images(Cli c, ParsedArgs p)
    {
        bool trunc = !p.Bool("no-trunc"), quiet = p.Bool("quiet");
        var filters = new List<string>(p.All("filter"));
        if (p.Positionals.Count == 1) filters.Add("reference=" + p.Positionals[0]);
        var q = new Query().AddIf(p.Bool("all"), "all", "1").Add("filters", ContainerCommands.ParseFilters(filters));
        var images = await c.Client.GetJsonAsync("/images/json", q, ApiJson.Default.ListImageSummary);
        var format = p.Get("format");
        if (quiet && format is null)
        {
            foreach (var id in images.Select(i => trunc ? ContainerCommands.ShortId(i.Id) : i.Id).Distinct()) c.Out.WriteLine(id);
            return 0;
        }
        if (format is null or "table")
            format = p.Bool("digests")
                ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
        else if (format == "json") format = "{{json .}}";
        var now = DateTimeOffset.UtcNow;
        c.WriteFormatted(format, images.SelectMany(i => Rows(i, trunc, now)), Headers);
        return 0;
    }

    /// <summary>One row per repository:tag of the image, or one &lt;none&gt; row, as docker lists them.</summary>
    static IEnumerable<Row> Rows(ImageSummary i, bool trunc, DateTimeOffset now)
    {
        var created = DateTimeOffset.FromUnixTimeSeconds(i.Created);
        Row Make(string repo, string tag, string digest) => new()
        {
            ["ID"] = trunc ? ContainerCommands.ShortId(i.Id) : i.Id,
            ["Repository"] = repo,
            ["Tag"] = tag,
            ["Digest"] = digest,
            ["CreatedSince"] = Units.HumanDuration(now - created) + " ago",
            ["CreatedAt"] = ContainerCommands.GoTimeString(created),
            ["Size"] = Units.HumanSize(i.Size, 3),
            ["VirtualSize"] = Units.HumanSize(i.VirtualSize > 0 ? i.VirtualSize : i.Size),
            ["SharedSize"] = i.SharedSize < 0 ? "N/A" : Units.HumanSize(i.SharedSize, 3),
            ["UniqueSize"] = i.SharedSize < 0 ? "N/A" : Units.HumanSize(i.Size - i.SharedSize, 3),
            ["Containers"] = i.Containers < 0 ? "N/A" : i.Containers.ToString(CultureInfo.InvariantCulture),
        };
        var tags = (i.RepoTags ?? new()).Where(t => t != "<none>:<none>").ToList();
        var digests = (i.RepoDigests ?? new()).Where(d => d != "<none>@<none>").ToList();
        string DigestFor(string repo) =>
            digests.FirstOrDefault(d => d.StartsWith(repo + "@", StringComparison.Ordinal)) is { } d ? d[(repo.Length + 1)..] : "<none>";
        if (tags.Count == 0)
        {
            if (digests.Count == 0) { yield return Make("<none>", "<none>", "<none>"); yield break; }
            foreach (var d in digests)
            {
                int at = d.IndexOf('@');
                yield return Make(d[..at], "<none>", d[(at + 1)..]);
            }
            yield break;
        }
        foreach (var t in tags)
        {
            int colon = t.LastIndexOf(':');
            var repo = colon > t.LastIndexOf('/') ? t[..colon] : t;
            var tag = colon > t.LastIndexOf('/') ? t[(colon + 1)..] : "<none>";
            yield return Make(repo, tag, DigestFor(repo));
        }
    }

    static async Task<int> Import(Cli c, ParsedArgs p)
    {
        var source = p.Positionals[0];
        var q = new Query();
        Stream? body = null;
        if (source == "-") { q.Add("fromSrc", "-"); body = Console.OpenStandardInput(); }
        else if (source.StartsWith("http://", StringComparison.Ordinal) || source.StartsWith("https://", StringComparison.Ordinal)) q.Add("fromSrc", source);
        else { q.Add("fromSrc", "-"); body = File.OpenRead(source); }
        if (p.Positionals.Count == 2) q.Add("repo", p.Positionals[1]);
        q.Add("message", p.Get("message")).Add("platform", p.Get("platform"));
        foreach (var change in p.All("change")) q.Add("changes", change);
        await using (body)
        {
            await using var resp = await c.Client.SendAsync("POST", "/images/create", q, bodyStream: body, contentType: body is null ? null : "application/x-tar");
            await c.RenderProgressAsync(resp.Body, c.Out);
        }
        return 0;
    }

    static async Task<int> Save(Cli c, ParsedArgs p)
    {
        var output = p.Get("output");
        if (output is null && Terminal.Tty.IsTerminal(Terminal.Tty.Stdout))
        {
            c.Err.WriteLine("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            return 1;
        }
        var q = new Query();
        foreach (var name in p.Positionals) q.Add("names", name);
        await using var resp = await c.Client.SendAsync("GET", "/images/get", q);
        if (output is null)
        {
            await resp.Body.CopyToAsync(c.StdoutStream);
            return 0;
        }
        await CopyToFileAsync(resp.Body, output);
        return 0;
    }

    /// <summary>Writes beside the destination and renames, so a failed transfer never leaves a partial file under its name.</summary>
    public static async Task CopyToFileAsync(Stream body, string path)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                await body.CopyToAsync(f);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    static async Task<int> Load(Cli c, ParsedArgs p)
    {
        var input = p.Get("input");
        if (input is null && Terminal.Tty.IsTerminal(Terminal.Tty.Stdin))
        {
            c.Err.WriteLine("requested load from stdin, but stdin is empty");
            return 1;
        }
        await using var body = input is null ? Console.OpenStandardInput() : File.OpenRead(input);
        var q = new Query().AddIf(p.Bool("quiet"), "quiet", "1");
        await using var resp = await c.Client.SendAsync("POST", "/images/load", q, bodyStream: body, contentType: "application/x-tar");
        await c.RenderProgressAsync(resp.Body, c.Out);
        return 0;
    }

    static async Task<int> Rmi(Cli c, ParsedArgs p)
    {
        var q = new Query().AddIf(p.Bool("force"), "force", "1").AddIf(p.Bool("no-prune"), "noprune", "1");
        return await c.ForEachAsync(p.Positionals, async name =>
        {
            await using var resp = await c.Client.SendAsync("DELETE", "/images/" + name, q);
            var items = await System.Text.Json.JsonSerializer.DeserializeAsync(resp.Body, ApiJson.Default.ListImageDeleteResponseItem) ?? new();
            foreach (var item in items)
            {
                if (item.Untagged is not null) c.Out.WriteLine("Untagged: " + item.Untagged);
                if (item.Deleted is not null) c.Out.WriteLine("Deleted: " + item.Deleted);
            }
        }, printName: false);
    }

    static async Task<int> Tag(Cli c, ParsedArgs p)
    {
        var target = ImageRef.Parse(p.Positionals[1]);
        if (target.Digest is not null) throw new UsageException("refusing to create a tag with a digest reference");
        await c.Client.SendAndDrainAsync("POST", $"/images/{p.Positionals[0]}/tag", new Query().Add("repo", target.FullName).Add("tag", target.Tag));
        return 0;
    }
}
