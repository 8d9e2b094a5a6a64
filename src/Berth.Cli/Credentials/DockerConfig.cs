using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Api;

namespace Berth.Cli.Credentials;

/// <summary>
/// Registry credentials as the docker CLI keeps them: <c>$DOCKER_CONFIG/config.json</c> (default
/// <c>~/.docker</c>), with <c>auths</c> holding base64 <c>user:password</c> per registry, unless
/// <c>credHelpers</c> names a helper for that registry or <c>credsStore</c> one for all, in which case
/// <c>docker-credential-NAME get|store|erase</c> holds them. Fields this CLI doesn't know are kept as they are.
/// </summary>
public sealed class DockerConfig
{
    /// <summary>Docker Hub's key in <c>auths</c> and its login server address.</summary>
    public const string HubServer = "https://index.docker.io/v1/";

    readonly string _path;
    readonly JsonObject _root;

    DockerConfig(string path, JsonObject root) => (_path, _root) = (path, root);

    public static DockerConfig Load(string? dir = null)
    {
        dir ??= Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } d ? d
            : Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".docker");
        var path = Path.Combine(dir, "config.json");
        JsonObject root = new();
        if (File.Exists(path))
        {
            try { root = JsonNode.Parse(File.ReadAllBytes(path)) as JsonObject ?? new(); }
            catch (JsonException e) { throw new InvalidOperationException($"loading config file {path}: {e.Message}"); }
        }
        return new DockerConfig(path, root);
    }

    /// <summary>The key docker uses for a registry: the Hub's index URL, else the bare host[:port].</summary>
    public static string ServerKey(string? registry)
    {
        if (string.IsNullOrEmpty(registry) || registry is "docker.io" or "index.docker.io" or "registry-1.docker.io" || registry == HubServer) return HubServer;
        var s = registry;
        int scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) s = s[(scheme + 3)..];
        int slash = s.IndexOf('/');
        return slash >= 0 ? s[..slash] : s;
    }

    string? HelperFor(string server) =>
        (_root["credHelpers"] as JsonObject)?[server]?.GetValue<string>() ?? _root["credsStore"]?.GetValue<string>();

    public AuthConfig Get(string server)
    {
        if (HelperFor(server) is { Length: > 0 } helper)
        {
            var (code, output) = RunHelper(helper, "get", server);
            if (code != 0) return new AuthConfig { ServerAddress = server };
            var node = JsonNode.Parse(output) as JsonObject;
            var user = node?["Username"]?.GetValue<string>();
            var secret = node?["Secret"]?.GetValue<string>();
            // Helpers mark identity tokens with the user name "<token>".
            return user == "<token>"
                ? new AuthConfig { IdentityToken = secret, ServerAddress = server }
                : new AuthConfig { Username = user, Password = secret, ServerAddress = server };
        }
        if ((_root["auths"] as JsonObject)?[server] is not JsonObject entry) return new AuthConfig { ServerAddress = server };
        var cfg = new AuthConfig
        {
            Auth = entry["auth"]?.GetValue<string>(),
            IdentityToken = entry["identitytoken"]?.GetValue<string>(),
            ServerAddress = server,
        };
        if (cfg.Basic() is { } b) (cfg.Username, cfg.Password, cfg.Auth) = (b.User, b.Password, null);
        return cfg;
    }

    public void Store(string server, string user, string password, string? identityToken)
    {
        if (HelperFor(server) is { Length: > 0 } helper)
        {
            var payload = new JsonObject
            {
                ["ServerURL"] = server,
                ["Username"] = identityToken is { Length: > 0 } ? "<token>" : user,
                ["Secret"] = identityToken is { Length: > 0 } ? identityToken : password,
            };
            var (code, output) = RunHelper(helper, "store", payload.ToJsonString());
            if (code != 0) throw new InvalidOperationException($"error storing credentials - err: exit status {code}, out: `{output.Trim()}`");
            return;
        }
        var auths = _root["auths"] as JsonObject ?? (JsonObject)(_root["auths"] = new JsonObject());
        var entry = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)) };
        if (identityToken is { Length: > 0 }) entry["identitytoken"] = identityToken;
        auths[server] = entry;
        Save();
    }

    /// <summary>Forgets a registry's credentials; false when there were none.</summary>
    public bool Erase(string server)
    {
        bool had = false;
        if (_root["auths"] is JsonObject auths && auths.Remove(server)) { had = true; Save(); }
        if (HelperFor(server) is { Length: > 0 } helper)
            had |= RunHelper(helper, "erase", server).Code == 0;
        return had;
    }

    /// <summary>Written to a temp file and renamed, so an interrupted write never truncates the user's config.</summary>
    void Save()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var tmp = _path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, _root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, TypeInfoResolver = ApiJson.Default }));
        File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, _path, overwrite: true);
    }

    static (int Code, string Output) RunHelper(string helper, string action, string input)
    {
        var psi = new ProcessStartInfo("docker-credential-" + helper, action)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        try
        {
            using var p = Process.Start(psi)!;
            p.StandardInput.Write(input);
            p.StandardInput.Close();
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (127, $"docker-credential-{helper}: {e.Message}");
        }
    }
}
