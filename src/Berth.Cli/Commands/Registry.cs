using System.Text;

namespace Berth.Cli.Commands;

/// <summary>Too few or too many positional arguments; docker exits 1 for these, not 125.</summary>
public sealed class ArgCountException(string message) : Exception(message);

/// <summary>
/// One CLI command: its flags, usage line, argument count and handler. <see cref="Sequential"/>
/// marks a command that never waits on two daemon requests at once (signal handlers aside, which
/// run on their own thread), so its connections may use blocking I/O on the calling thread.
/// </summary>
public sealed record Command(
    string Name,
    string Usage,
    string Description,
    Flag[] Flags,
    Func<Cli, ParsedArgs, Task<int>> Run,
    int MinArgs = 0,
    int MaxArgs = int.MaxValue,
    bool StopAtFirstPositional = false,
    bool Sequential = false)
{
    public void CheckArgs(ParsedArgs p)
    {
        int n = p.Positionals.Count;
        if (n < MinArgs)
            throw new ArgCountException(MinArgs == MaxArgs ? $"requires exactly {MinArgs} argument{(MinArgs == 1 ? "" : "s")}" : $"requires at least {MinArgs} argument{(MinArgs == 1 ? "" : "s")}");
        if (n > MaxArgs)
            throw new ArgCountException(MaxArgs == 0 ? "accepts no arguments" : MinArgs == MaxArgs ? $"requires exactly {MaxArgs} argument{(MaxArgs == 1 ? "" : "s")}" : $"requires at most {MaxArgs} arguments");
    }

    public string Help()
    {
        var sb = new StringBuilder();
        sb.Append("\nUsage:  ").Append(Cli.ProgramName).Append(' ').Append(Usage).Append("\n\n").Append(Description).Append("\n\nOptions:\n");
        foreach (var f in Flags.OrderBy(f => f.Long, StringComparer.Ordinal))
            sb.Append("  ").Append(f.Short != '\0' ? $"-{f.Short}, " : "    ").Append("--").Append(f.Long).Append(f.IsBool ? "" : " string").Append('\n');
        return sb.ToString();
    }
}

/// <summary>The command table; <c>container ls</c>-style management forms map onto the same commands.</summary>
public static class Registry
{
    static readonly Dictionary<string, Command> Commands = Build();

    static Dictionary<string, Command> Build()
    {
        var all = ContainerCommands.All().Concat(RunCommands.All()).Concat(ImageCommands.All()).Concat(SystemCommands.All())
            .Concat(StorageCommands.All()).Concat(RegistryCommands.All()).Concat(ResourceCommands.All()).Concat(NetworkCommands.All()).Append(RegistryCommand.Create());
        return all.ToDictionary(c => c.Name, StringComparer.Ordinal);
    }

    static readonly Dictionary<string, string> ManagementAliases = new(StringComparer.Ordinal)
    {
        ["container ls"] = "ps", ["container list"] = "ps", ["container rm"] = "rm", ["image ls"] = "images",
        ["image list"] = "images", ["image rm"] = "rmi", ["image import"] = "import", ["image tag"] = "tag",
        ["image inspect"] = "inspect", ["container inspect"] = "inspect", ["system info"] = "info",
        ["system events"] = "events", ["image pull"] = "pull", ["image push"] = "push",
        ["image save"] = "save", ["image load"] = "load", ["container export"] = "export", ["container diff"] = "diff",
        ["container commit"] = "commit", ["container prune"] = "container prune", ["image prune"] = "image prune",
        ["system df"] = "system df", ["container stats"] = "stats", ["container update"] = "update", ["container top"] = "top",
        ["container pause"] = "pause", ["container unpause"] = "unpause", ["network list"] = "network ls", ["network remove"] = "network rm",
    };

    public static (Command? Command, string[] Args) Resolve(string[] args)
    {
        if (args.Length >= 2 && args[0] is "container" or "image" or "system" or "network")
        {
            var key = args[0] + " " + args[1];
            if (ManagementAliases.TryGetValue(key, out var alias)) return (Commands[alias], args[2..]);
            if (Commands.TryGetValue(key, out var own)) return (own, args[2..]);
            if (args[0] == "network") return (null, args);
            if (Commands.TryGetValue(args[1], out var sub)) return (sub, args[2..]);
            return (null, args);
        }
        return Commands.TryGetValue(args[0], out var c) ? (c, args[1..]) : (null, args);
    }

    public static string GlobalUsage()
    {
        var sb = new StringBuilder();
        sb.Append($"\nUsage:  {Cli.ProgramName} [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\nCommands:\n");
        foreach (var c in Commands.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
            sb.Append("  ").Append(c.Name.PadRight(10)).Append(c.Description).Append('\n');
        sb.Append("\nGlobal Options:\n  -H, --host string      Daemon socket to connect to\n  -D, --debug            Enable debug mode\n  -l, --log-level string Set the logging level\n      --tls              Use TLS; implied by --tlsverify\n      --tlscacert string Trust certs signed only by this CA\n      --tlscert string   Path to TLS certificate file\n      --tlskey string    Path to TLS key file\n      --tlsverify        Use TLS and verify the remote\n  -v, --version          Print version information and quit\n");
        return sb.ToString();
    }
}
