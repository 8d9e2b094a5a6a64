using System.Text;
using System.Text.Json;
using Berth.Api;
using Berth.Cli.Credentials;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

/// <summary>
/// pull, push, login, logout and search. Credentials are resolved here, on the client side, from
/// <c>~/.docker/config.json</c> and handed to the daemon in <c>X-Registry-Auth</c>, as docker does.
/// </summary>
public static class RegistryCommands
{
    public static IEnumerable<Command> All() => new Command[]
    {
        new("pull", "pull [OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
            new Flag[] { new("quiet", 'q', true), new("platform"), new("all-tags", 'a', true) }, Pull, MinArgs: 1, MaxArgs: 1),
        new("push", "push [OPTIONS] NAME[:TAG]", "Upload an image to a registry",
            new Flag[] { new("quiet", 'q', true), new("all-tags", 'a', true), new("platform") }, Push, MinArgs: 1, MaxArgs: 1),
        new("login", "login [OPTIONS] [SERVER]", "Authenticate to a registry",
            new Flag[] { new("username", 'u'), new("password", 'p'), new("password-stdin", IsBool: true) }, Login, MaxArgs: 1),
        new("logout", "logout [SERVER]", "Log out from a registry", Array.Empty<Flag>(), Logout, MaxArgs: 1),
        new("search", "search [OPTIONS] TERM", "Search Docker Hub for images",
            new Flag[] { new("filter", 'f'), new("format"), new("limit"), new("no-trunc", IsBool: true) }, Search, MinArgs: 1, MaxArgs: 1),
    };

    /// <summary>The X-Registry-Auth header for the registry of <paramref name="domain"/>: stored credentials, or <c>{}</c>.</summary>
    public static KeyValuePair<string, string>[] AuthHeader(string domain) =>
        [new("X-Registry-Auth", DockerConfig.Load().Get(DockerConfig.ServerKey(domain)).ToHeader())];

    static bool Terminal(Cli c) => c.StdoutIsTerminal;

    static async Task<int> Pull(Cli c, ParsedArgs p)
    {
        var r = ImageRef.Parse(p.Positionals[0]);
        bool quiet = p.Bool("quiet");
        bool tagged = r.Digest is not null || p.Positionals[0].AsSpan(p.Positionals[0].LastIndexOf('/') + 1).Contains(':');
        bool allTags = p.Bool("all-tags");
        if (allTags && tagged) throw new UsageException("tag can't be used with --all-tags/-a");
        if (!quiet && !tagged && !allTags) c.Out.WriteLine("Using default tag: latest");
        await PullAsync(c, p.Positionals[0], quiet ? TextWriter.Null : c.Out, p.Get("platform"), !quiet && Terminal(c), allTags);
        c.Out.WriteLine(r.FullName + (allTags ? "" : r.Digest is null ? ":" + r.Tag : "@" + r.Digest));
        return 0;
    }

    /// <summary>POST /images/create?fromImage=…; also what run and create use for a missing image. No tag at all pulls every tag.</summary>
    public static async Task PullAsync(Cli c, string image, TextWriter progress, string? platform = null, bool terminal = false, bool allTags = false)
    {
        var r = ImageRef.Parse(image);
        var q = new Query().Add("fromImage", r.FullName).Add("tag", allTags ? null : r.Digest ?? r.Tag).Add("platform", platform);
        await using var resp = await c.Client.SendAsync("POST", "/images/create", q, headers: AuthHeader(r.Domain));
        await c.RenderProgressAsync(resp.Body, progress, terminal);
    }

    static async Task<int> Push(Cli c, ParsedArgs p)
    {
        var r = ImageRef.Parse(p.Positionals[0]);
        bool quiet = p.Bool("quiet");
        var name = p.Positionals[0];
        bool tagged = r.Digest is not null || name.AsSpan(name.LastIndexOf('/') + 1).Contains(':');
        var q = new Query();
        if (p.Bool("all-tags") && tagged) throw new UsageException("tag can't be used with --all-tags/-a");
        if (!p.Bool("all-tags"))
        {
            if (!tagged && !quiet) c.Out.WriteLine("Using default tag: latest");
            q.Add("tag", r.Tag);
        }
        await using var resp = await c.Client.SendAsync("POST", $"/images/{r.FullName}/push", q, headers: AuthHeader(r.Domain));
        await c.RenderProgressAsync(resp.Body, quiet ? TextWriter.Null : c.Out, !quiet && Terminal(c));
        if (quiet) c.Out.WriteLine(r.FamiliarString);
        return 0;
    }

    static async Task<int> Login(Cli c, ParsedArgs p)
    {
        var server = p.Positionals.Count == 1 ? p.Positionals[0] : DockerConfig.HubServer;
        var key = DockerConfig.ServerKey(server);
        var user = p.Get("username");
        var password = p.Get("password");
        if (password is not null) c.Err.WriteLine("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        if (p.Bool("password-stdin"))
        {
            if (password is not null) throw new UsageException("--password and --password-stdin are mutually exclusive");
            if (user is null) throw new UsageException("Must provide --username with --password-stdin");
            password = (await Console.In.ReadToEndAsync()).TrimEnd('\n', '\r');
        }
        if ((user is null || password is null) && !Berth.Cli.Terminal.Tty.IsTerminal(Berth.Cli.Terminal.Tty.Stdin))
            throw Fail(c, "Error: Cannot perform an interactive login from a non TTY device");
        if (user is null)
        {
            c.Out.Write("Username: ");
            await c.Out.FlushAsync();
            user = Console.ReadLine()?.Trim() ?? "";
            if (user.Length == 0) throw Fail(c, "Error: Non-null Username Required");
        }
        if (password is null)
        {
            // Echo goes off before the prompt appears, so nothing typed after it is shown.
            using (Berth.Cli.Terminal.RawMode.NoEcho(Berth.Cli.Terminal.Tty.Stdin))
            {
                c.Out.Write("Password: ");
                await c.Out.FlushAsync();
                password = ReadLineFromFd0();
            }
            c.Out.WriteLine();
            if (password.Length == 0) throw Fail(c, "Error: Password Required");
        }
        var body = JsonSerializer.SerializeToUtf8Bytes(new AuthConfig { Username = user, Password = password, ServerAddress = server }, ApiJson.Default.AuthConfig);
        var answer = await c.Client.PostJsonAsync("/auth", null, body, ApiJson.Default.AuthResponse);
        DockerConfig.Load().Store(key, user, password, answer.IdentityToken);
        c.Out.WriteLine(answer.Status.Length > 0 ? answer.Status : "Login Succeeded");
        return 0;
    }

    /// <summary>
    /// One line from fd 0, read with read(2): on a terminal Console.ReadLine switches echo off and
    /// prints each character itself, which would show the password whatever the terminal's mode.
    /// </summary>
    static string ReadLineFromFd0()
    {
        using var stdin = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
        var line = new List<byte>();
        var one = new byte[1];
        while (stdin.Read(one) == 1 && one[0] != (byte)'\n') line.Add(one[0]);
        return Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r');
    }

    /// <summary>docker's plain client-side failures: the message on stderr, exit status 1.</summary>
    static ExitException Fail(Cli c, string message)
    {
        c.Err.WriteLine(message);
        return new ExitException(1);
    }

    static Task<int> Logout(Cli c, ParsedArgs p)
    {
        var server = p.Positionals.Count == 1 ? p.Positionals[0] : DockerConfig.HubServer;
        var key = DockerConfig.ServerKey(server);
        if (!DockerConfig.Load().Erase(key))
        {
            c.Out.WriteLine($"Not logged in to {server}");
            return Task.FromResult(0);
        }
        c.Out.WriteLine($"Removing login credentials for {key}");
        return Task.FromResult(0);
    }

    static readonly Row SearchHeaders = new()
    {
        ["Name"] = "NAME", ["Description"] = "DESCRIPTION", ["StarCount"] = "STARS", ["IsOfficial"] = "OFFICIAL", ["IsAutomated"] = "AUTOMATED",
    };

    static async Task<int> Search(Cli c, ParsedArgs p)
    {
        var term = p.Positionals[0];
        var q = new Query().Add("term", term).Add("limit", p.Get("limit"))
            .Add("filters", ContainerCommands.ParseFilters(p.All("filter").ToList()));
        var slash = term.IndexOf('/');
        var domain = slash > 0 && (term[..slash].Contains('.') || term[..slash].Contains(':') || term[..slash] == "localhost") ? term[..slash] : "docker.io";
        await using var resp = await c.Client.SendAsync("GET", "/images/search", q, headers: AuthHeader(domain));
        var results = await JsonSerializer.DeserializeAsync(resp.Body, ApiJson.Default.ListImageSearchResult) ?? new();
        bool trunc = !p.Bool("no-trunc");
        var format = p.Get("format") is { } f && f != "table" ? f : "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
        var rows = results.Select(r => new Row
        {
            ["Name"] = r.Name,
            ["Description"] = trunc && r.Description.Length > 45 ? r.Description[..44] + "…" : r.Description.Replace('\n', ' '),
            ["StarCount"] = r.StarCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["IsOfficial"] = r.IsOfficial ? "[OK]" : "",
            ["IsAutomated"] = r.IsAutomated ? "[OK]" : "",
        });
        c.WriteFormatted(format, rows, SearchHeaders);
        return 0;
    }
}
