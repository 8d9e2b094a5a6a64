namespace Berth.Cli;

/// <summary>A flag a command accepts: long name, optional one-letter short name, and whether it takes a value.</summary>
public sealed record Flag(string Long, char Short = '\0', bool IsBool = false);

/// <summary>Bad command-line usage; printed with the command's usage line, exit status 125 like docker.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The result of parsing one command's arguments the way docker's pflag does: <c>--name=x</c>,
/// <c>--name x</c>, <c>-n x</c>, <c>-nx</c>, combined short booleans (<c>-it</c>), <c>--rm=false</c>
/// and <c>--</c>. Commands such as run stop at the first positional (the image) so everything
/// after it is the container's command.
/// </summary>
public sealed class ParsedArgs
{
    readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = new();

    public bool Has(string name) => _values.ContainsKey(name);

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v[^1] : null;

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var v) ? v : Array.Empty<string>();

    public bool Bool(string name) => Get(name) is { } v && ParseBool(v);

    internal void Add(string name, string value)
    {
        if (!_values.TryGetValue(name, out var list)) _values[name] = list = new List<string>();
        list.Add(value);
    }

    static bool ParseBool(string v) => v switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => throw new UsageException($"invalid argument \"{v}\": strconv.ParseBool: parsing \"{v}\": invalid syntax"),
    };

    public static ParsedArgs Parse(IReadOnlyList<Flag> flags, IReadOnlyList<string> args, bool stopAtFirstPositional)
    {
        var result = new ParsedArgs();
        for (int i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                for (i++; i < args.Count; i++) result.Positionals.Add(args[i]);
                break;
            }
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                int eq = a.IndexOf('=');
                var name = eq < 0 ? a[2..] : a[2..eq];
                var flag = flags.FirstOrDefault(f => f.Long == name) ?? throw new UsageException($"unknown flag: --{name}");
                if (flag.IsBool)
                {
                    var v = eq < 0 ? "true" : a[(eq + 1)..];
                    ParseBool(v);
                    result.Add(flag.Long, v);
                }
                else if (eq >= 0) result.Add(flag.Long, a[(eq + 1)..]);
                else if (i + 1 < args.Count) result.Add(flag.Long, args[++i]);
                else throw new UsageException($"flag needs an argument: --{name}");
                continue;
            }
            if (a.Length > 1 && a[0] == '-')
            {
                for (int j = 1; j < a.Length; j++)
                {
                    char c = a[j];
                    var flag = flags.FirstOrDefault(f => f.Short == c)
                        ?? throw new UsageException($"unknown shorthand flag: '{c}' in {a}");
                    if (flag.IsBool)
                    {
                        if (j + 1 < a.Length && a[j + 1] == '=')
                        {
                            var v = a[(j + 2)..];
                            ParseBool(v);
                            result.Add(flag.Long, v);
                            break;
                        }
                        result.Add(flag.Long, "true");
                        continue;
                    }
                    if (j + 1 < a.Length)
                        result.Add(flag.Long, a[j + 1] == '=' ? a[(j + 2)..] : a[(j + 1)..]);
                    else if (i + 1 < args.Count) result.Add(flag.Long, args[++i]);
                    else throw new UsageException($"flag needs an argument: '{c}' in -{c}");
                    break;
                }
                continue;
            }
            result.Positionals.Add(a);
            if (stopAtFirstPositional)
            {
                for (i++; i < args.Count; i++) result.Positionals.Add(args[i]);
                break;
            }
        }
        return result;
    }
}
