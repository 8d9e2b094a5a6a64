namespace Berth.Graph.Tests;

public sealed class MetadataDbTests : IDisposable
{
    readonly TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Migrate_applies_each_step_once_and_later_steps_when_added()
    {
        string path = _tmp.Combine("t.db");
        using (var db = MetadataDb.Open(path))
        {
            db.Migrate("daemon", ["CREATE TABLE containers(id TEXT PRIMARY KEY)"]);
            db.Migrate("daemon", ["CREATE TABLE containers(id TEXT PRIMARY KEY)"]);
            Assert.Equal(1, db.SchemaVersion("daemon"));
        }
        using (var db = MetadataDb.Open(path))
        {
            db.Migrate("daemon", ["CREATE TABLE containers(id TEXT PRIMARY KEY)", "ALTER TABLE containers ADD COLUMN name TEXT"]);
            Assert.Equal(2, db.SchemaVersion("daemon"));
            Assert.Equal(0, db.SchemaVersion("other"));
            db.Write((c, tx) => MetadataDb.Exec(c, tx, "INSERT INTO containers(id, name) VALUES('a', 'web')"));
            Assert.Equal("web", db.Read(c => MetadataDb.Scalar(c, null, "SELECT name FROM containers WHERE id = 'a'")));
            Assert.Equal("wal", db.Read(c => MetadataDb.Scalar(c, null, "PRAGMA journal_mode")));
        }
    }

    [Fact]
    public void Write_rolls_back_when_the_callback_throws()
    {
        using var db = MetadataDb.Open(_tmp.Combine("t.db"));
        db.Migrate("x", ["CREATE TABLE t(v INTEGER)"]);
        Assert.Throws<InvalidOperationException>(() => db.Write<int>((c, tx) =>
        {
            MetadataDb.Exec(c, tx, "INSERT INTO t VALUES(1)");
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal(0L, db.Read(c => MetadataDb.Scalar(c, null, "SELECT count(*) FROM t")));
    }

    [Fact]
    public void Migrate_refuses_a_database_newer_than_the_code()
    {
        using var db = MetadataDb.Open(_tmp.Combine("t.db"));
        db.Migrate("x", ["CREATE TABLE a(v)", "CREATE TABLE b(v)"]);
        Assert.Throws<InvalidOperationException>(() => db.Migrate("x", ["CREATE TABLE a(v)"]));
    }
}
