using System.Net;

namespace Berth.Network.Dns;

/// <summary>
/// The names the embedded server answers, kept the way Docker resolves them: on each network, a
/// container is found by its name, its short id (12 hex digits) and its network aliases, all
/// case-insensitive. Aliases may be shared; a name held by several containers resolves to all
/// their addresses (Docker's DNS round robin). PTR answers are "name.network", as in Docker.
/// The driver calls <see cref="Add"/> when a container's endpoint on a network comes up and
/// <see cref="Remove"/> when it goes.
/// </summary>
public sealed class DnsNameTable : IDnsNames
{
    const int ShortIdLength = 12;

    sealed record Entry(string ContainerName, string NetworkName, HashSet<string> Names, IReadOnlyList<IPAddress> Addresses);

    readonly Dictionary<string, Dictionary<string, Entry>> networks = new();
    readonly Lock gate = new();

    /// <summary>Records (or replaces) the container's entry on the network.</summary>
    /// <param name="containerName">Docker's name, with or without the leading '/'.</param>
    public void Add(string networkId, string networkName, string containerId, string containerName,
        IEnumerable<string> aliases, IReadOnlyList<IPAddress> addresses)
    {
        var name = containerName.TrimStart('/');
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { name };
        if (containerId.Length >= ShortIdLength) names.Add(containerId[..ShortIdLength]);
        foreach (var alias in aliases) names.Add(alias.TrimEnd('.'));
        lock (gate)
        {
            if (!networks.TryGetValue(networkId, out var entries)) networks[networkId] = entries = new();
            entries[containerId] = new Entry(name, networkName, names, addresses);
        }
    }

    public void Remove(string networkId, string containerId)
    {
        lock (gate)
        {
            if (!networks.TryGetValue(networkId, out var entries)) return;
            entries.Remove(containerId);
            if (entries.Count == 0) networks.Remove(networkId);
        }
    }

    public IReadOnlyList<IPAddress>? Lookup(string networkId, string name)
    {
        lock (gate)
        {
            if (!networks.TryGetValue(networkId, out var entries)) return null;
            List<IPAddress>? found = null;
            foreach (var entry in entries.Values)
            {
                if (entry.Names.Contains(name)) (found ??= []).AddRange(entry.Addresses);
            }
            return found;
        }
    }

    public string? ReverseLookup(string networkId, IPAddress address)
    {
        lock (gate)
        {
            if (!networks.TryGetValue(networkId, out var entries)) return null;
            foreach (var entry in entries.Values)
            {
                if (entry.Addresses.Contains(address)) return $"{entry.ContainerName}.{entry.NetworkName}";
            }
            return null;
        }
    }
}
