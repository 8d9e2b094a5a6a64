using Berth.Daemon.Containers;
using Berth.Daemon.Engine;

namespace Berth.Daemon.Network;

// Legacy links (--link NAME[:ALIAS]) on the default bridge, as Docker keeps them: the linked
// container's address in /etc/hosts under the alias, its hostname and its name, and environment
// variables describing its exposed ports and its own environment. On user-defined networks the
// embedded DNS server resolves the alias for the linking container instead (Lookup). On any
// network with ICC off, a link opens the linked container's exposed ports to the linking one
// (LinkHoles).
public sealed partial class NetworkService
{
    /// <summary>
    /// At create: every linked container must exist and not use the host's network; links are
    /// stored in Docker's form, "/db:/web/db".
    /// </summary>
    void PrepareLinks(ContainerRecord r)
    {
        if (r.HostConfig.Links is not { Count: > 0 } links) return;
        var normalised = new List<string>();
        foreach (var link in links)
        {
            var (name, alias) = SplitLink(link);
            var target = _containers.Find(name)
                ?? throw ApiException.BadRequest($"could not get container for {name}: No such container: {name}");
            if (target.Record.HostConfig.NetworkMode == "host")
                throw ApiException.BadRequest("conflicting options: host type networking can't be used with links. This would result in undefined behavior");
            normalised.Add($"{target.Name}:{r.Name}/{alias}");
        }
        r.HostConfig.Links = normalised;
    }

    /// <summary>"db", "db:alias" or the stored "/db:/web/alias" as (container, alias).</summary>
    static (string Name, string Alias) SplitLink(string link)
    {
        var parts = link.Split(':', 2);
        var name = parts[0].TrimStart('/');
        var alias = parts.Length == 2 ? parts[1][(parts[1].LastIndexOf('/') + 1)..] : name;
        if (name.Length == 0 || alias.Length == 0) throw ApiException.BadRequest($"invalid link: {link}");
        return (name, alias);
    }

    /// <summary>At start, on the default bridge: the /etc/hosts entries and environment of the container's links.</summary>
    (List<string> Hosts, List<string> Env) ResolveLinks(ContainerRecord r)
    {
        var hosts = new List<string>();
        var env = new List<string>();
        if (r.HostConfig.Links is not { Count: > 0 } links || PrimaryNetwork(r) is not { IsDefaultBridge: true } bridge) return (hosts, env);
        foreach (var link in links)
        {
            var (name, alias) = SplitLink(link);
            var target = _containers.Find(name);
            if (target is null || !target.IsRunning)
                throw new ApiException(500, $"Cannot link to a non running container: /{name} AS {r.Name}/{alias}");
            if (!target.Record.Networks.TryGetValue(bridge.Name, out var ep) || ep.IPAddress.Length == 0)
                throw ApiException.BadRequest($"Cannot link to /{name}, as it does not belong to the default network");
            var t = target.Record;
            var hostname = string.IsNullOrEmpty(t.Config.Hostname) ? target.ShortId : t.Config.Hostname;
            // --add-host's NAME:IP form; the name part may hold several names.
            hosts.Add($"{alias} {hostname}{(alias != name ? " " + name : "")}:{ep.IPAddress}");
            env.AddRange(LinkEnv(alias, $"{r.Name}/{alias}", ep.IPAddress, t));
        }
        return (hosts, env);
    }

    /// <summary>Docker's link variables: ALIAS_PORT, ALIAS_PORT_80_TCP(_ADDR|_PORT|_PROTO), ALIAS_NAME, ALIAS_ENV_*.</summary>
    internal static IEnumerable<string> LinkEnv(string alias, string fullName, string ip, ContainerRecord target)
    {
        var prefix = alias.ToUpperInvariant().Replace('-', '_');
        var ports = (target.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
            .Select(k => k.Split('/', 2))
            .Select(p => (Port: int.TryParse(p[0], out var n) ? n : 0, Proto: p.Length == 2 ? p[1].ToLowerInvariant() : "tcp"))
            .Where(p => p.Port > 0)
            .ToList();
        // The default port: the lowest TCP one, else the lowest of any protocol.
        if (ports.OrderBy(p => p.Proto == "tcp" ? 0 : 1).ThenBy(p => p.Port).FirstOrDefault() is { Port: > 0 } first)
            yield return $"{prefix}_PORT={first.Proto}://{ip}:{first.Port}";
        foreach (var (port, proto) in ports.OrderBy(p => p.Port).ThenBy(p => p.Proto == "tcp" ? 0 : 1))
        {
            var key = $"{prefix}_PORT_{port}_{proto.ToUpperInvariant()}";
            yield return $"{key}={proto}://{ip}:{port}";
            yield return $"{key}_ADDR={ip}";
            yield return $"{key}_PORT={port}";
            yield return $"{key}_PROTO={proto}";
        }
        yield return $"{prefix}_NAME={fullName}";
        foreach (var e in target.Config.Env ?? [])
        {
            var eq = e.IndexOf('=');
            if (eq <= 0 || e[..eq] is "HOME" or "PATH") continue;
            yield return $"{prefix}_ENV_{e[..eq]}={e[(eq + 1)..]}";
        }
    }
}
