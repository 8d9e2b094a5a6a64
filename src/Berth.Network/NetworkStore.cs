using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Graph;
using Microsoft.Data.Sqlite;

namespace Berth.Network;

/// <summary>One network as Berth keeps it: the predefined bridge/host/none and user-defined bridges.</summary>
public sealed class NetworkRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    /// <summary>bridge, host or null (Docker's names for the drivers).</summary>
    public string Driver { get; set; } = "bridge";
    public DateTimeOffset Created { get; set; }
    public bool Internal { get; set; }
    public bool Attachable { get; set; }
    public bool EnableIPv6 { get; set; }
    /// <summary>IPv4 subnet, e.g. 172.31.0.0/16; empty for host and none.</summary>
    public string Subnet { get; set; } = "";
    public string Gateway { get; set; } = "";
    /// <summary>Where container addresses come from, inside <see cref="Subnet"/>; empty = the whole subnet.</summary>
    public string IPRange { get; set; } = "";
    /// <summary>IPv6 subnet, gateway and range when <see cref="EnableIPv6"/>; empty otherwise.</summary>
    public string Subnet6 { get; set; } = "";
    public string Gateway6 { get; set; } = "";
    public string IPRange6 { get; set; } = "";
    /// <summary>The Linux bridge device; empty for host and none.</summary>
    public string BridgeName { get; set; } = "";
    public int Mtu { get; set; } = 1500;
    /// <summary>Inter-container communication on this bridge (com.docker.network.bridge.enable_icc).</summary>
    public bool Icc { get; set; } = true;
    public Dictionary<string, string> Options { get; set; } = new();
    public Dictionary<string, string> Labels { get; set; } = new();

    [JsonIgnore] public bool IsDefaultBridge => Name == "bridge";
    [JsonIgnore] public bool IsPredefined => Name is "bridge" or "host" or "none";
    [JsonIgnore] public Subnet ParsedSubnet => Network.Subnet.Parse(Subnet);
    [JsonIgnore] public IPAddress GatewayAddress => IPAddress.Parse(Gateway);
    /// <summary>True when the network has an IPv6 subnet: only then does any IPv6 work happen for it.</summary>
    [JsonIgnore] public bool HasIPv6 => EnableIPv6 && Subnet6.Length > 0;
    [JsonIgnore] public Subnet ParsedSubnet6 => Network.Subnet.Parse(Subnet6);
    [JsonIgnore] public IPAddress GatewayAddress6 => IPAddress.Parse(Gateway6);
}

/// <summary>
/// Networks and their IP allocations in the GraphDB (component "network"), with the IPAM: an
/// address is handed out inside one transaction that also records it, so two containers never get
/// the same one and a crash never forgets one.
/// </summary>
public sealed class NetworkStore
{
    readonly MetadataDb _db;

    public NetworkStore(MetadataDb db)
    {
        _db = db;
        _db.Migrate("network", new[]
        {
            """
            CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
            CREATE TABLE ip_allocations (
                network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
                address TEXT NOT NULL,
                container_id TEXT NOT NULL,
                PRIMARY KEY (network_id, address),
                UNIQUE (network_id, container_id));
            """,
            // IPv6 addresses in a table of their own, so a container holds one address per family
            // and the IPv4-only path runs exactly the statements it ran before.
            """
            CREATE TABLE ip6_allocations (
                network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
                address TEXT NOT NULL,
                container_id TEXT NOT NULL,
                PRIMARY KEY (network_id, address),
                UNIQUE (network_id, container_id));
            """,
        });
    }

    public IReadOnlyList<NetworkRecord> All() => _db.Read(c =>
    {
        var list = new List<NetworkRecord>();
        using var cmd = MetadataDb.Command(c, null, "SELECT record FROM networks");
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(Deserialize(r.GetString(0)));
        return list;
    });

    public void Add(NetworkRecord n) => _db.Write((c, tx) => MetadataDb.Exec(c, tx,
        "INSERT INTO networks (id, name, record) VALUES ($id, $name, $r)", ("$id", n.Id), ("$name", n.Name), ("$r", Serialize(n))));

    public void Remove(string id) => _db.Write((c, tx) => MetadataDb.Exec(c, tx, "DELETE FROM networks WHERE id = $id", ("$id", id)));

    /// <summary>
    /// The address of <paramref name="containerId"/> on the network, of the family
    /// <paramref name="ipv6"/> picks: its existing allocation, the <paramref name="requested"/> one
    /// when free, else the lowest free address of the IP range (never the network address, the
    /// gateway or, for IPv4, the broadcast address).
    /// </summary>
    public IPAddress Allocate(NetworkRecord n, string containerId, IPAddress? requested = null, bool ipv6 = false) => _db.Write((c, tx) =>
    {
        var table = ipv6 ? "ip6_allocations" : "ip_allocations";
        var family = ipv6 ? "IPv6" : "IPv4";
        var existing = MetadataDb.Scalar(c, tx, $"SELECT address FROM {table} WHERE network_id = $n AND container_id = $c",
            ("$n", n.Id), ("$c", containerId)) as string;
        if (existing is not null && (requested is null || requested.ToString() == existing)) return IPAddress.Parse(existing);
        if (existing is not null)
            MetadataDb.Exec(c, tx, $"DELETE FROM {table} WHERE network_id = $n AND container_id = $c", ("$n", n.Id), ("$c", containerId));

        var subnet = ipv6 ? n.ParsedSubnet6 : n.ParsedSubnet;
        var taken = new HashSet<UInt128>();
        using (var cmd = MetadataDb.Command(c, tx, $"SELECT address FROM {table} WHERE network_id = $n", ("$n", n.Id)))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) taken.Add(Subnet.ToNumber(IPAddress.Parse(r.GetString(0))));
        taken.Add(Subnet.ToNumber(ipv6 ? n.GatewayAddress6 : n.GatewayAddress));
        IPAddress address;
        if (requested is not null)
        {
            if (!subnet.Contains(requested))
                throw new IpamException($"no available {family} addresses on this network's address pools: {n.Name} ({requested} is not in {subnet})");
            if (taken.Contains(Subnet.ToNumber(requested)))
                throw new IpamException($"Address already in use: {requested}");
            address = requested;
        }
        else
        {
            var rangeText = ipv6 ? n.IPRange6 : n.IPRange;
            var range = rangeText.Length > 0 ? Subnet.Parse(rangeText) : subnet;
            UInt128 first = UInt128.Max(range.First, subnet.First + UInt128.One), last = UInt128.Min(range.Last, ipv6 ? subnet.Last : subnet.Last - UInt128.One);
            UInt128? free = null;
            for (var a = first; a <= last && a >= first; a++)
                if (!taken.Contains(a)) { free = a; break; }
            address = Subnet.FromNumber(free ?? throw new IpamException($"no available {family} addresses on this network's address pools: {n.Name} ({subnet})"),
                subnet.Network.AddressFamily);
        }
        MetadataDb.Exec(c, tx, $"INSERT INTO {table} (network_id, address, container_id) VALUES ($n, $a, $c)",
            ("$n", n.Id), ("$a", address.ToString()), ("$c", containerId));
        return address;
    });

    /// <summary>Frees the container's address on the network; with <paramref name="ipv6"/> its IPv6 address too.</summary>
    public void Release(string networkId, string containerId, bool ipv6 = false) => _db.Write((c, tx) =>
    {
        MetadataDb.Exec(c, tx, "DELETE FROM ip_allocations WHERE network_id = $n AND container_id = $c", ("$n", networkId), ("$c", containerId));
        if (ipv6)
            MetadataDb.Exec(c, tx, "DELETE FROM ip6_allocations WHERE network_id = $n AND container_id = $c", ("$n", networkId), ("$c", containerId));
    });

    /// <summary>All allocations of both families: (network id, container id, address).</summary>
    public IReadOnlyList<(string NetworkId, string ContainerId, IPAddress Address)> Allocations() => _db.Read(c =>
    {
        var list = new List<(string, string, IPAddress)>();
        using var cmd = MetadataDb.Command(c, null,
            "SELECT network_id, container_id, address FROM ip_allocations UNION ALL SELECT network_id, container_id, address FROM ip6_allocations");
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add((r.GetString(0), r.GetString(1), IPAddress.Parse(r.GetString(2))));
        return list;
    });

    static string Serialize(NetworkRecord n) => JsonSerializer.Serialize(n, NetworkJson.Default.NetworkRecord);
    static NetworkRecord Deserialize(string s) => JsonSerializer.Deserialize(s, NetworkJson.Default.NetworkRecord)!;

    /// <summary>
    /// The first subnet of Docker's default pools (172.18–172.30/16, then 192.168.x.0/20) that
    /// overlaps neither <paramref name="inUse"/> (other networks, host routes) nor docker0's
    /// 172.17.0.0/16, which a dockerd on the same host may own.
    /// </summary>
    public static Subnet PickSubnet(IEnumerable<Subnet> inUse, IEnumerable<Subnet>? preferred = null)
    {
        var used = inUse.Append(Network.Subnet.Parse("172.17.0.0/16")).ToList();
        var candidates = (preferred ?? [])
            .Concat(Enumerable.Range(18, 13).Select(i => Network.Subnet.Parse($"172.{i}.0.0/16")))
            .Concat(Enumerable.Range(0, 16).Select(i => Network.Subnet.Parse($"192.168.{i * 16}.0/20")));
        foreach (var s in candidates)
            if (!used.Any(u => u.PrefixLength > 0 && u.Overlaps(s))) return s;
        throw new IpamException("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
    }

    /// <summary>
    /// Berth's IPv6 pool, as Docker's default one: a ULA /48 (fdXX:XXXX:XXXX::/48) derived from
    /// <paramref name="seed"/> (the daemon's data root), so it is stable across restarts and two
    /// daemons on one host draw from different ones.
    /// </summary>
    public static Subnet Ipv6Pool(string seed)
    {
        var h = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed));
        var b = new byte[16];
        b[0] = 0xfd;
        h.AsSpan(0, 5).CopyTo(b.AsSpan(1));
        return new Subnet(new IPAddress(b), 48);
    }

    /// <summary>The first /64 of <paramref name="pool"/> that overlaps nothing in <paramref name="inUse"/> (other networks, host routes).</summary>
    public static Subnet PickSubnet6(Subnet pool, IEnumerable<Subnet> inUse)
    {
        var used = inUse.Where(u => u.IsV6 && u.PrefixLength > 0).ToList();
        for (ulong i = 0; i < 65536; i++)
        {
            var s = pool.Nth(64, i);
            if (!used.Any(u => u.Overlaps(s))) return s;
        }
        throw new IpamException("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network");
    }
}

/// <summary>An address request IPAM can't satisfy; the message is Docker's where Docker has one.</summary>
public sealed class IpamException(string message) : Exception(message);

[JsonSerializable(typeof(NetworkRecord))]
internal sealed partial class NetworkJson : JsonSerializerContext
{
}
