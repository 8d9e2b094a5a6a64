namespace Berth.Shim;

/// <summary>The berth-shim command line (see ShimProcess in Berth.Shim.Client, which builds it).</summary>
/// <param name="Runtime">An external OCI runtime CLI (runc, crun) to drive instead of Berth's own runtime library.</param>
public sealed record ShimArguments(string Id, string Bundle, string StateDir, string Socket, string Log, string? InitPath, bool OpenStdin, string? Runtime = null)
{
    public static ShimArguments Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>();
        bool openStdin = true;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--no-stdin":
                    openStdin = false;
                    break;
                case "--id" or "--bundle" or "--state-dir" or "--socket" or "--log" or "--init-path" or "--runtime":
                    if (i + 1 >= args.Count) throw new ArgumentException($"{args[i]} needs a value");
                    values[args[i]] = args[++i];
                    break;
                default:
                    throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        string Required(string name) =>
            values.TryGetValue(name, out var v) && v.Length > 0 ? v : throw new ArgumentException($"{name} is required");
        return new ShimArguments(Required("--id"), Required("--bundle"), Required("--state-dir"), Required("--socket"),
            Required("--log"), values.GetValueOrDefault("--init-path"), openStdin, values.GetValueOrDefault("--runtime"));
    }
}
