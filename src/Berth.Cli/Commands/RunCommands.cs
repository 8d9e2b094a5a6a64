using System.Runtime.InteropServices;
using Berth.Api;
using Berth.Cli.Terminal;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

/// <summary>
/// create, run, start and attach: building the create body from docker's flags, and the attached
/// flow (attach hijacked → wait → start → stream → exit with the container's status).
/// </summary>
public static class RunCommands
{
    static readonly Flag[] CreateFlags =
    [
        new("interactive", 'i', true), new("tty", 't', true), new("rm", IsBool: true), new("name"), new("env", 'e'),
        new("env-file"), new("workdir", 'w'), new("user", 'u'), new("entrypoint"), new("hostname", 'h'), new("label", 'l'),
        new("pull"), new("network"), new("net"), new("publish", 'p'), new("volume", 'v'), new("restart"),
        new("privileged", IsBool: true), new("init", IsBool: true), new("stop-signal"), new("stop-timeout"),
        new("platform"), new("read-only", IsBool: true), new("cap-add"), new("cap-drop"), new("expose"),
        new("cidfile"), new("ip"), new("ip6"), new("network-alias"), new("net-alias"), new("dns"),
        new("dns-search"), new("dns-option"), new("dns-opt"), new("add-host"), new("publish-all", 'P', true), new("link"), new("mac-address"),
        .. ResourceCommands.CreateFlags,
    ];

    public static IEnumerable<Command> All() => new Command[]
    {
        new("create", "create [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", CreateFlags, Create, MinArgs: 1, StopAtFirstPositional: true, Sequential: true),
        new("run", "run [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image",
            CreateFlags.Concat(new Flag[] { new("detach", 'd', true), new("sig-proxy", IsBool: true), new("detach-keys") }).ToArray(),
            Run, MinArgs: 1, StopAtFirstPositional: true, Sequential: true),
        new("start", "start [OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
            new Flag[] { new("attach", 'a', true), new("interactive", 'i', true), new("detach-keys") }, Start, MinArgs: 1, Sequential: true),
        new("attach", "attach [OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container",
            new Flag[] { new("no-stdin", IsBool: true), new("sig-proxy", IsBool: true), new("detach-keys") }, Attach, MinArgs: 1, MaxArgs: 1, Sequential: true),
    };

    /// <summary>Builds the create request exactly as docker's CLI would for these flags.</summary>
    public static ContainerCreateRequest BuildCreateRequest(ParsedArgs p, bool detach, (int Rows, int Cols)? consoleSize)
    {
        bool interactive = p.Bool("interactive");
        var config = new ContainerConfig
        {
            Image = p.Positionals[0],
            Cmd = p.Positionals.Count > 1 ? p.Positionals.Skip(1).ToList() : null,
            Hostname = p.Get("hostname") ?? "",
            Domainname = "",
            User = p.Get("user") ?? "",
            WorkingDir = p.Get("workdir") ?? "",
            Tty = p.Bool("tty"),
            OpenStdin = interactive,
            AttachStdin = interactive && !detach,
            AttachStdout = !detach,
            AttachStderr = !detach,
            StdinOnce = interactive && !detach,
            Env = BuildEnv(p),
            Labels = new Dictionary<string, string>(),
            StopSignal = p.Get("stop-signal"),
            StopTimeout = p.Get("stop-timeout") is { } st ? int.Parse(st) : null,
            OnBuild = null,
        };
        if (p.Has("entrypoint")) config.Entrypoint = new List<string> { p.Get("entrypoint")! };
        foreach (var l in p.All("label"))
        {
            int eq = l.IndexOf('=');
            config.Labels![eq < 0 ? l : l[..eq]] = eq < 0 ? "" : l[(eq + 1)..];
        }
        var host = new HostConfig
        {
            NetworkMode = p.Get("network") ?? p.Get("net") ?? "default",
            AutoRemove = p.Bool("rm"),
            Privileged = p.Bool("privileged"),
            ReadonlyRootfs = p.Bool("read-only"),
            Init = p.Has("init") ? p.Bool("init") : null,
            LogConfig = new LogConfig { Type = "" },
            CapAdd = p.All("cap-add").Count > 0 ? p.All("cap-add").ToList() : null,
            CapDrop = p.All("cap-drop").Count > 0 ? p.All("cap-drop").ToList() : null,
        };
        ResourceCommands.Apply(p, host);
        if (p.Bool("tty") && consoleSize is { } size) host.ConsoleSize = new List<long> { size.Rows, size.Cols };
        if (p.Get("restart") is { } restart)
        {
            var parts = restart.Split(':', 2);
            host.RestartPolicy = new RestartPolicy { Name = parts[0], MaximumRetryCount = parts.Length == 2 ? int.Parse(parts[1]) : 0 };
        }
        foreach (var v in p.All("volume"))
        {
            if (v.Contains(':')) (host.Binds ??= new List<string>()).Add(v);
            else (config.Volumes ??= new Dictionary<string, EmptyObject>())[v] = new EmptyObject();
        }
        foreach (var e in p.All("expose"))
            (config.ExposedPorts ??= new Dictionary<string, EmptyObject>())[e.Contains('/') ? e : e + "/tcp"] = new EmptyObject();
        foreach (var spec in p.All("publish"))
            foreach (var (key, binding) in ParsePublish(spec))
            {
                (config.ExposedPorts ??= new Dictionary<string, EmptyObject>())[key] = new EmptyObject();
                host.PortBindings ??= new Dictionary<string, List<PortBinding>?>();
                if (!host.PortBindings.TryGetValue(key, out var list) || list is null) host.PortBindings[key] = list = new List<PortBinding>();
                list.Add(binding);
            }
        host.PublishAllPorts = p.Bool("publish-all");
        host.Dns = ListOrNull(p.All("dns"));
        host.DnsSearch = ListOrNull(p.All("dns-search"));
        host.DnsOptions = ListOrNull(p.All("dns-option").Concat(p.All("dns-opt")).ToList());
        host.ExtraHosts = ListOrNull(p.All("add-host").Select(AddHost).ToList());
        host.Links = ListOrNull(p.All("link").Select(Link).ToList());
        if (p.Get("mac-address") is { Length: > 0 } mac) config.MacAddress = mac;
        var req = new ContainerCreateRequest { Config = config, HostConfig = host };
        req.NetworkingConfig = new NetworkingConfig { EndpointsConfig = new Dictionary<string, EndpointSettings?>() };
        if (EndpointFromFlags(p) is { } ep) req.NetworkingConfig.EndpointsConfig[host.NetworkMode] = ep;
        return req;
    }

    static List<string>? ListOrNull(IReadOnlyList<string> values) => values.Count > 0 ? values.ToList() : null;

    /// <summary>
    /// --ip, --ip6, --network-alias and --link describe the container's endpoint on the network it
    /// is created on; docker sends them under that network's name, and nothing when none is given.
    /// </summary>
    static EndpointSettings? EndpointFromFlags(ParsedArgs p)
    {
        var aliases = p.All("network-alias").Concat(p.All("net-alias")).ToList();
        string? ip = p.Get("ip"), ip6 = p.Get("ip6");
        foreach (var (flag, v) in new[] { ("ip", ip), ("ip6", ip6) })
            if (v is { Length: > 0 } && !System.Net.IPAddress.TryParse(v, out _))
                throw new UsageException($"invalid argument \"{v}\" for \"--{flag}\" flag: invalid string being converted to IP address: {v}");
        if (aliases.Count == 0 && string.IsNullOrEmpty(ip) && string.IsNullOrEmpty(ip6) && p.All("link").Count == 0) return null;
        return new EndpointSettings
        {
            IPAMConfig = string.IsNullOrEmpty(ip) && string.IsNullOrEmpty(ip6) ? null : new EndpointIpamConfig { IPv4Address = ip ?? "", IPv6Address = ip6 ?? "" },
            Aliases = aliases.Count > 0 ? aliases : null,
            Links = ListOrNull(p.All("link").Select(Link).ToList()),
        };
    }

    /// <summary>--add-host NAME:IP (or NAME=IP); docker checks the address client-side, host-gateway aside.</summary>
    static string AddHost(string v)
    {
        int sep = v.IndexOf('=') is >= 0 and var eq ? eq : v.IndexOf(':');
        if (sep <= 0) throw new UsageException($"invalid argument \"{v}\" for \"--add-host\" flag: bad format for add-host: \"{v}\"");
        var ip = v[(sep + 1)..].Trim('[', ']');
        if (ip != "host-gateway" && !System.Net.IPAddress.TryParse(ip, out _))
            throw new UsageException($"invalid argument \"{v}\" for \"--add-host\" flag: invalid IP address in add-host: \"{ip}\"");
        return v[..sep] + ":" + ip;
    }

    /// <summary>--link NAME[:ALIAS]; a bare name is its own alias, as docker's ValidateLink writes it.</summary>
    static string Link(string v)
    {
        var parts = v.Split(':');
        if (parts.Length > 2 || parts[0].Length == 0) throw new UsageException($"invalid argument \"{v}\" for \"--link\" flag: bad format for links: {v}");
        return parts.Length == 1 ? v + ":" + v : v;
    }

    /// <summary>
    /// <c>-p [ip:][hostPort:]containerPort[/proto]</c>, where both ports may be ranges: equal-length
    /// ranges map one to one; a host range for one container port lets the daemon pick within it.
    /// </summary>
    public static IEnumerable<(string Key, PortBinding Binding)> ParsePublish(string spec)
    {
        var proto = "tcp";
        int slash = spec.LastIndexOf('/');
        if (slash >= 0) { proto = spec[(slash + 1)..]; spec = spec[..slash]; }
        var parts = spec.Split(':');
        string ip = "", hostPort = "", containerPort;
        switch (parts.Length)
        {
            case 1: containerPort = parts[0]; break;
            case 2: hostPort = parts[0]; containerPort = parts[1]; break;
            default: ip = string.Join(':', parts[..^2]).Trim('[', ']'); hostPort = parts[^2]; containerPort = parts[^1]; break;
        }
        var (cFirst, cLast) = PortRange(containerPort, "containerPort");
        var (hFirst, hLast) = hostPort.Length == 0 ? (0, 0) : PortRange(hostPort, "hostPort");
        int count = cLast - cFirst + 1;
        if (hostPort.Length > 0 && count > 1 && hLast - hFirst + 1 != count)
            throw new UsageException($"invalid ranges specified for container and host Ports: {containerPort} and {hostPort}");
        for (int i = 0; i < count; i++)
        {
            var hp = hostPort.Length == 0 ? "" : count > 1 ? (hFirst + i).ToString() : hostPort;
            yield return ($"{cFirst + i}/{proto}", new PortBinding { HostIp = ip, HostPort = hp });
        }
    }

    static (int First, int Last) PortRange(string s, string what)
    {
        var ends = s.Split('-');
        if (ends.Length is 1 or 2 && ends.All(e => int.TryParse(e, out var n) && n is >= 0 and <= 65535))
        {
            int first = int.Parse(ends[0]), last = int.Parse(ends[^1]);
            if (last >= first) return (first, last);
        }
        throw new UsageException($"invalid {what}: {s}");
    }

    /// <summary><c>--env-file</c> then <c>-e</c>; a bare name takes its value from our environment when set, as docker does.</summary>
    static List<string>? BuildEnv(ParsedArgs p)
    {
        var env = new List<string>();
        foreach (var file in p.All("env-file"))
            foreach (var line in File.ReadAllLines(file))
            {
                var t = line.TrimStart();
                if (t.Length == 0 || t.StartsWith('#')) continue;
                env.Add(ExpandEnv(t));
            }
        foreach (var e in p.All("env")) env.Add(ExpandEnv(e));
        return env.Count == 0 ? new List<string>() : env;
    }

    static string ExpandEnv(string e)
    {
        if (e.Contains('=')) return e;
        return Environment.GetEnvironmentVariable(e) is { } v ? e + "=" + v : e;
    }

    /// <summary>Creates the container, pulling the image first when asked or when the daemon says it is missing.</summary>
    static async Task<string> CreateContainerAsync(Cli c, ParsedArgs p, ContainerCreateRequest req)
    {
        var pull = p.Get("pull") ?? "missing";
        if (pull is not ("missing" or "never" or "always"))
            throw new UsageException($"invalid pull option: '{pull}': must be one of \"always\", \"missing\" or \"never\"");
        var q = new Query().Add("name", p.Get("name")).Add("platform", p.Get("platform"));
        var body = ContainerCreateJson.Serialize(req);
        if (pull == "always") await RegistryCommands.PullAsync(c, req.Config.Image!, c.Err);
        ContainerCreateResponse resp;
        try
        {
            resp = await c.Client.PostJsonAsync("/containers/create", q, body, ReplyJson.ReadCreateResponse);
        }
        catch (DaemonException e) when (e.IsNotFound && pull == "missing")
        {
            c.Err.WriteLine($"Unable to find image '{ImageRef.Parse(req.Config.Image!).FamiliarString}' locally");
            await RegistryCommands.PullAsync(c, req.Config.Image!, c.Err);
            resp = await c.Client.PostJsonAsync("/containers/create", q, body, ReplyJson.ReadCreateResponse);
        }
        foreach (var w in resp.Warnings ?? new List<string>()) c.Err.WriteLine("WARNING: " + w);
        if (p.Get("cidfile") is { } cidfile) await File.WriteAllTextAsync(cidfile, resp.Id);
        return resp.Id;
    }

    static async Task<int> Create(Cli c, ParsedArgs p)
    {
        try
        {
            var req = BuildCreateRequest(p, detach: false, Terminal.Tty.Size(Terminal.Tty.Stdout));
            c.Out.WriteLine(await CreateContainerAsync(c, p, req));
            return 0;
        }
        catch (DaemonException e)
        {
            return RunFailure(c, "create", e.Message, 125);
        }
    }

    static int RunFailure(Cli c, string command, string message, int code)
    {
        c.Out.Flush();
        c.Err.WriteLine($"{Cli.ProgramName}: Error response from daemon: {message}\n\nRun '{Cli.ProgramName} {command} --help' for more information");
        return code;
    }

    static async Task<int> Run(Cli c, ParsedArgs p)
    {
        bool detach = p.Bool("detach");
        bool tty = p.Bool("tty"), interactive = p.Bool("interactive");
        string id;
        try { id = await CreateContainerAsync(c, p, BuildCreateRequest(p, detach, Terminal.Tty.Size(Terminal.Tty.Stdout))); }
        catch (DaemonException e) { return RunFailure(c, "run", e.Message, 125); }

        if (detach)
        {
            try { await c.Client.SendAndDrainAsync("POST", $"/containers/{id}/start"); }
            catch (DaemonException e) { return RunFailure(c, "run", e.Message, StartFailureCode(e.Message)); }
            c.Out.WriteLine(id);
            return 0;
        }

        bool sigProxy = !p.Has("sig-proxy") || p.Bool("sig-proxy");
        return await AttachedRunAsync(c, id, tty, interactive, p.Bool("rm"), startIt: true, sigProxy, "run");
    }

    /// <summary>The daemon's start error decides run's status: 126 not executable, 127 not found, else 125.</summary>
    public static int StartFailureCode(string message) =>
        message.Contains("executable file not found", StringComparison.Ordinal) || message.Contains("no such file or directory", StringComparison.Ordinal) ? 127
        : message.Contains("permission denied", StringComparison.Ordinal) ? 126 : 125;

    static async Task<int> Start(Cli c, ParsedArgs p)
    {
        if (!p.Bool("attach") && !p.Bool("interactive"))
            return await c.ForEachAsync(p.Positionals, n => c.Client.SendAndDrainAsync("POST", $"/containers/{Cli.Escape(n)}/start"));
        if (p.Positionals.Count > 1)
        {
            c.Err.WriteLine("you cannot start and attach multiple containers at once");
            return 1;
        }
        var info = await c.Client.GetJsonAsync($"/containers/{Cli.Escape(p.Positionals[0])}/json", null, ApiJson.Default.ContainerInspect);
        return await AttachedRunAsync(c, info.Id, info.Config.Tty, p.Bool("interactive") && info.Config.OpenStdin, info.HostConfig.AutoRemove, startIt: true, sigProxy: true, "start");
    }

    static async Task<int> Attach(Cli c, ParsedArgs p)
    {
        var info = await c.Client.GetJsonAsync($"/containers/{Cli.Escape(p.Positionals[0])}/json", null, ApiJson.Default.ContainerInspect);
        if (!info.State.Running)
        {
            c.Err.WriteLine("You cannot attach to a stopped container, start it first");
            return 1;
        }
        if (info.State.Paused)
        {
            c.Err.WriteLine("You cannot attach to a paused container, unpause it first");
            return 1;
        }
        bool stdin = info.Config.OpenStdin && !p.Bool("no-stdin");
        return await AttachedRunAsync(c, info.Id, info.Config.Tty, stdin, autoRemove: false, startIt: false, sigProxy: !p.Has("sig-proxy") || p.Bool("sig-proxy"), "attach");
    }

    /// <summary>
    /// Attach (hijacked), register the wait, optionally start, then stream until the daemon
    /// closes the connection and return the container's exit status.
    /// </summary>
    static async Task<int> AttachedRunAsync(Cli c, string id, bool tty, bool stdin, bool autoRemove, bool startIt, bool sigProxy, string command)
    {
        await c.Out.FlushAsync();
        var attachQuery = new Query().Add("stream", "1").AddIf(stdin, "stdin", "1").Add("stdout", "1").Add("stderr", "1");
        await using var attach = await c.Client.SendAsync("POST", $"/containers/{id}/attach", attachQuery, hijack: true);
        var stream = attach.Hijacked ?? throw new DaemonException(attach.StatusCode, $"unable to upgrade to tcp, received {attach.StatusCode}");

        var waitQuery = startIt ? new Query().Add("condition", autoRemove ? "removed" : "next-exit") : null;
        await using var wait = await c.Client.SendAsync("POST", $"/containers/{id}/wait", waitQuery);

        using var raw = tty && stdin ? RawMode.Enter(Terminal.Tty.Stdin) : null;
        if (startIt)
        {
            try { await c.Client.SendAndDrainAsync("POST", $"/containers/{id}/start"); }
            catch (DaemonException e)
            {
                raw?.Dispose();
                if (autoRemove) await TryDrainWaitAsync(wait);
                return RunFailure(c, command, e.Message, command == "run" ? StartFailureCode(e.Message) : 1);
            }
        }

        var registrations = new List<PosixSignalRegistration>();
        if (tty && Terminal.Tty.IsTerminal(Terminal.Tty.Stdout))
        {
            await ResizeAsync(c, id);
            registrations.Add(PosixSignalRegistration.Create((PosixSignal)28 /* SIGWINCH */, ctx =>
            {
                ctx.Cancel = true;
                _ = ResizeAsync(c, id);
            }));
        }
        else if (!tty && sigProxy)
        {
            foreach (var (sig, num) in new[] { (PosixSignal.SIGINT, 2), (PosixSignal.SIGTERM, 15) })
                registrations.Add(PosixSignalRegistration.Create(sig, ctx =>
                {
                    ctx.Cancel = true;
                    _ = c.Client.SendAndDrainAsync("POST", $"/containers/{id}/kill", new Query().Add("signal", num.ToString()))
                        .ContinueWith(_ => { }, TaskScheduler.Default);
                }));
        }

        try
        {
            if (stdin) _ = Task.Run(() => PumpStdinAsync(stream));
            try
            {
                if (tty) await stream.CopyToAsync(c.StdoutStream);
                else await StdStream.DemuxAsync(stream, c.StdoutStream, c.StderrStream);
            }
            catch (IOException) { }
            await c.StdoutStream.FlushAsync();
            raw?.Dispose();

            if (!startIt && waitQuery is null)
            {
                // attach: the output ended; the exit status is what the container left behind.
                return (int)(await c.Client.PostJsonAsync($"/containers/{id}/wait", null, null, ReplyJson.ReadWaitResponse)).StatusCode;
            }
            var result = ReplyJson.ReadWaitResponse(await wait.ReadBodyAsync());
            if (result.Error is { Message.Length: > 0 } err) c.Err.WriteLine(err.Message);
            return (int)result.StatusCode;
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
        }
    }

    static async Task TryDrainWaitAsync(RawResponse wait)
    {
        try { await wait.Body.CopyToAsync(Stream.Null); }
        catch (IOException) { }
    }

    static async Task PumpStdinAsync(HijackedStream stream)
    {
        try
        {
            using var stdin = Console.OpenStandardInput();
            var buf = new byte[32 * 1024];
            int n;
            while ((n = await stdin.ReadAsync(buf)) > 0)
            {
                await stream.WriteAsync(buf.AsMemory(0, n));
                await stream.FlushAsync();
            }
            await stream.CloseWriteAsync();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException) { }
    }

    static async Task ResizeAsync(Cli c, string id)
    {
        if (Terminal.Tty.Size(Terminal.Tty.Stdout) is not { } size) return;
        try
        {
            await c.Client.SendAndDrainAsync("POST", $"/containers/{id}/resize",
                new Query().Add("h", size.Rows.ToString()).Add("w", size.Cols.ToString()));
        }
        catch (Exception e) when (e is DaemonException or IOException) { }
    }
}
