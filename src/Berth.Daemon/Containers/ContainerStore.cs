using System.Collections.Concurrent;
using System.Text.Json;
using Berth.Daemon.Engine;
using Berth.Graph;

namespace Berth.Daemon.Containers;

/// <summary>
/// All containers: in memory for fast lookups (`ps` must not touch the disk), written through to
/// the GraphDB's <c>containers</c> table so a killed daemon loses nothing. Names are unique.
/// </summary>
public sealed class ContainerStore
{
    readonly MetadataDb _db;
    readonly ConcurrentDictionary<string, Container> _byId = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, string> _byName = new(StringComparer.Ordinal);

    public ContainerStore(MetadataDb db)
    {
        _db = db;
        _db.Migrate("containers", new[]
        {
            "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image_id TEXT NOT NULL, record TEXT NOT NULL)",
        });
        foreach (var record in _db.Read(LoadAll))
        {
            var c = new Container(record);
            _byId[c.Id] = c;
            _byName[c.Name] = c.Id;
        }
    }

    static List<ContainerRecord> LoadAll(Microsoft.Data.Sqlite.SqliteConnection conn)
    {
        var list = new List<ContainerRecord>();
        using var cmd = MetadataDb.Command(conn, null, "SELECT record FROM containers");
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var rec = JsonSerializer.Deserialize(r.GetString(0), DaemonJson.Default.ContainerRecord);
            if (rec is not null) list.Add(rec);
        }
        return list;
    }

    public IReadOnlyCollection<Container> All => _byId.Values.ToArray();

    /// <summary>Reserves the name and stores the new container; 409 when the name is taken.</summary>
    public void Add(Container c)
    {
        if (!_byName.TryAdd(c.Name, c.Id))
            throw NameConflict(c.Name);
        try
        {
            _db.Write((conn, tx) => MetadataDb.Exec(conn, tx,
                "INSERT INTO containers (id, name, image_id, record) VALUES ($id, $name, $image, $record)",
                ("$id", c.Id), ("$name", c.Name), ("$image", c.Record.ImageId), ("$record", Serialize(c))));
        }
        catch
        {
            _byName.TryRemove(c.Name, out _);
            throw;
        }
        _byId[c.Id] = c;
    }

    public ApiException NameConflict(string name) => ApiException.Conflict(
        $"Conflict. The container name \"{name}\" is already in use by container \"{_byName.GetValueOrDefault(name)}\". You have to remove (or rename) that container to be able to reuse that name.");

    /// <summary>Writes the container's current record.</summary>
    public void Save(Container c) =>
        _db.Write((conn, tx) => MetadataDb.Exec(conn, tx,
            "UPDATE containers SET name = $name, record = $record WHERE id = $id",
            ("$id", c.Id), ("$name", c.Name), ("$record", Serialize(c))));

    public void Rename(Container c, string newName)
    {
        if (!_byName.TryAdd(newName, c.Id)) throw NameConflict(newName);
        var old = c.Record.Name;
        c.Record.Name = newName;
        try { Save(c); }
        catch
        {
            c.Record.Name = old;
            _byName.TryRemove(newName, out _);
            throw;
        }
        _byName.TryRemove(old, out _);
    }

    public void Remove(Container c)
    {
        _db.Write((conn, tx) => MetadataDb.Exec(conn, tx, "DELETE FROM containers WHERE id = $id", ("$id", c.Id)));
        _byId.TryRemove(c.Id, out _);
        _byName.TryRemove(c.Name, out _);
    }

    static string Serialize(Container c)
    {
        lock (c.Record) return JsonSerializer.Serialize(c.Record, DaemonJson.Default.ContainerRecord);
    }

    /// <summary>Docker's lookup order: full id, name, then a unique id prefix.</summary>
    public Container? Find(string nameOrId)
    {
        if (string.IsNullOrEmpty(nameOrId)) return null;
        if (_byId.TryGetValue(nameOrId, out var c)) return c;
        var name = nameOrId.StartsWith('/') ? nameOrId : "/" + nameOrId;
        if (_byName.TryGetValue(name, out var id) && _byId.TryGetValue(id, out c)) return c;
        Container? found = null;
        foreach (var candidate in _byId.Values)
        {
            if (!candidate.Id.StartsWith(nameOrId, StringComparison.Ordinal)) continue;
            if (found is not null)
                throw ApiException.BadRequest($"multiple IDs found with provided prefix: {nameOrId}");
            found = candidate;
        }
        return found;
    }

    public Container Get(string nameOrId) => Find(nameOrId) ?? throw ApiException.NoSuchContainer(nameOrId);

    public bool NameInUse(string name) => _byName.ContainsKey(name);
}
