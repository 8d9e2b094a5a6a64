using Berth.Graph;

namespace Berth.Daemon.Images;

/// <summary>
/// The Dockerfile instructions <c>docker import --change</c> and <c>commit --change</c> accept:
/// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
/// </summary>
public static class ImportChanges
{
    public static void Apply(ImageConfig config, string change)
    {
        var line = change.Trim();
        if (line.Length == 0) return;
        int sp = line.IndexOfAny(new[] { ' ', '\t' });
        var instruction = (sp < 0 ? line : line[..sp]).ToUpperInvariant();
        var rest = sp < 0 ? "" : line[(sp + 1)..].Trim();
        switch (instruction)
        {
            case "CMD": config.Cmd = ExecOrShell(rest); break;
            case "ENTRYPOINT": config.Entrypoint = ExecOrShell(rest); break;
            case "ENV":
                config.Env ??= new();
                foreach (var (k, v) in KeyValues(rest, "ENV"))
                {
                    config.Env.RemoveAll(e => e.Split('=', 2)[0] == k);
                    config.Env.Add($"{k}={v}");
                }
                break;
            case "LABEL":
                config.Labels ??= new();
                foreach (var (k, v) in KeyValues(rest, "LABEL")) config.Labels[k] = v;
                break;
            case "EXPOSE":
                config.ExposedPorts ??= new();
                foreach (var p in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    var port = p.Contains('/') ? p : p + "/tcp";
                    var num = port.Split('/')[0];
                    if (!int.TryParse(num.Split('-')[0], out _)) throw new ArgumentException($"invalid containerPort: {num}");
                    config.ExposedPorts[port] = new EmptyObject();
                }
                break;
            case "USER": config.User = Required(rest, "USER"); break;
            case "WORKDIR": config.WorkingDir = Required(rest, "WORKDIR"); break;
            case "STOPSIGNAL": config.StopSignal = Required(rest, "STOPSIGNAL"); break;
            case "VOLUME":
                config.Volumes ??= new();
                foreach (var v in rest.StartsWith('[') ? JsonArray(rest) : rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList())
                    config.Volumes[v] = new EmptyObject();
                break;
            case "ONBUILD":
                config.OnBuild ??= new();
                config.OnBuild.Add(Required(rest, "ONBUILD"));
                break;
            default:
                throw new ArgumentException($"{instruction} is not a valid change command");
        }
    }

    static string Required(string value, string instruction) =>
        value.Length > 0 ? value : throw new ArgumentException($"{instruction} requires exactly one argument");

    static List<string> ExecOrShell(string rest) =>
        rest.StartsWith('[') ? JsonArray(rest) : new List<string> { "/bin/sh", "-c", rest };

    static List<string> JsonArray(string text)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize(text, Api.ApiJson.Default.ListString)
                ?? throw new ArgumentException($"invalid JSON array: {text}");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ArgumentException($"invalid JSON array {text}: {e.Message}");
        }
    }

    /// <summary>"A=1 B=2", "A 1" (legacy single pair), with double quotes around values allowed.</summary>
    static IEnumerable<(string, string)> KeyValues(string rest, string instruction)
    {
        if (rest.Length == 0) throw new ArgumentException($"{instruction} requires at least one argument");
        if (!rest.Split(' ')[0].Contains('='))
        {
            int sp = rest.IndexOf(' ');
            if (sp < 0) throw new ArgumentException($"{instruction} names can not be blank");
            yield return (rest[..sp], rest[(sp + 1)..].Trim());
            yield break;
        }
        int i = 0;
        while (i < rest.Length)
        {
            while (i < rest.Length && rest[i] == ' ') i++;
            if (i >= rest.Length) break;
            int eq = rest.IndexOf('=', i);
            if (eq < 0) throw new ArgumentException($"Syntax error - can't find = in \"{rest[i..]}\". Must be of the form: name=value");
            var key = rest[i..eq];
            i = eq + 1;
            var value = new System.Text.StringBuilder();
            if (i < rest.Length && rest[i] == '"')
            {
                i++;
                while (i < rest.Length && rest[i] != '"')
                {
                    if (rest[i] == '\\' && i + 1 < rest.Length) i++;
                    value.Append(rest[i++]);
                }
                i++;
            }
            else
                while (i < rest.Length && rest[i] != ' ') value.Append(rest[i++]);
            yield return (key, value.ToString());
        }
    }
}
