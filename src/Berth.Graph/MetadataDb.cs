using Microsoft.Data.Sqlite;

namespace Berth.Graph;

/// <summary>
/// The GraphDB: one SQLite database (WAL) shared by every component that keeps metadata. Each component
/// owns its tables and evolves them with <see cref="Migrate"/>, which records the applied steps per
/// component in <c>schema_migrations</c>, so the graph's tables and, say, the daemon's containers table
/// version independently.
/// </summary>
/// <remarks>
/// One connection behind one lock: SQLite serialises writers anyway, the metadata is small, and a single
/// connection makes every read see every committed write without cross-connection surprises.
/// </remarks>
public sealed class MetadataDb : IDisposable
{
    readonly SqliteConnection _conn;
    readonly Lock _lock = new();

    MetadataDb(SqliteConnection conn) => _conn = conn;

    public string Path { get; private init; } = "";

    public static MetadataDb Open(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var conn = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            ForeignKeys = true,
            DefaultTimeout = 30,
        }.ToString());
        conn.Open();
        try
        {
            // WAL with synchronous=NORMAL: a killed daemon loses no committed transaction and the file
            // never corrupts; only a power cut can roll back the last few commits. FULL would put an
            // fsync on every create, start, exit and rm that `docker run` waits for.
            Exec(conn, null, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;");
            Exec(conn, null, """
                CREATE TABLE IF NOT EXISTS schema_migrations(
                    component TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    applied_at TEXT NOT NULL,
                    PRIMARY KEY(component, version));
                """);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
        return new MetadataDb(conn) { Path = path };
    }

    public T Read<T>(Func<SqliteConnection, T> f)
    {
        lock (_lock) return f(_conn);
    }

    /// <summary>Runs <paramref name="f"/> in one transaction: committed when it returns, rolled back when it throws.</summary>
    public T Write<T>(Func<SqliteConnection, SqliteTransaction, T> f)
    {
        lock (_lock)
        {
            using var tx = _conn.BeginTransaction();
            var result = f(_conn, tx);
            tx.Commit();
            return result;
        }
    }

    public void Write(Action<SqliteConnection, SqliteTransaction> f) => Write<bool>((c, tx) => { f(c, tx); return true; });

    /// <summary>
    /// Applies <c>steps[i]</c> (DDL, version i+1) for each version <paramref name="component"/> has not applied
    /// yet, each step in its own transaction together with its record. Steps are append-only: never edit one
    /// that has shipped, add a new one.
    /// </summary>
    public void Migrate(string component, IReadOnlyList<string> steps)
    {
        int applied = Read(c => Convert.ToInt32(Scalar(c, null,
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $c", ("$c", component))));
        if (applied > steps.Count)
            throw new InvalidOperationException(
                $"database {Path} has schema version {applied} for {component}, newer than this build knows ({steps.Count})");
        for (int v = applied + 1; v <= steps.Count; v++)
        {
            int version = v;
            Write((c, tx) =>
            {
                Exec(c, tx, steps[version - 1]);
                Exec(c, tx, "INSERT INTO schema_migrations(component, version, applied_at) VALUES($c, $v, $t)",
                    ("$c", component), ("$v", version), ("$t", DateTimeOffset.UtcNow.ToString("O")));
            });
        }
    }

    /// <summary>Version of <paramref name="component"/>'s schema (0 when never migrated).</summary>
    public int SchemaVersion(string component) => Read(c => Convert.ToInt32(Scalar(c, null,
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $c", ("$c", component))));

    /// <summary>Runs a statement with named parameters; the small helper the graph's own SQL goes through.</summary>
    public static int Exec(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] args)
    {
        using var cmd = Command(c, tx, sql, args);
        return cmd.ExecuteNonQuery();
    }

    public static object? Scalar(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] args)
    {
        using var cmd = Command(c, tx, sql, args);
        var v = cmd.ExecuteScalar();
        return v is DBNull ? null : v;
    }

    public static SqliteCommand Command(SqliteConnection c, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    public void Dispose()
    {
        lock (_lock) _conn.Dispose();
    }
}
