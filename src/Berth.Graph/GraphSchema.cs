namespace Berth.Graph;

/// <summary>
/// The graph's tables in the GraphDB. Every row carries the graph driver it belongs to, as Docker keeps one
/// image/layer database per driver: switching drivers hides the other driver's images and loses nothing.
/// Blobs are shared (content-addressed). Steps are append-only; see <see cref="MetadataDb.Migrate"/>.
/// <code>
/// layers            (driver, chain_id) ─parent_chain_id→ layers      one row per layer in the chain; blob_digest → blobs
/// images            (driver, id)       ─top_chain_id→    layers      id = digest of the config blob
/// refs              (driver, name)     ─image_id→        images      repo:tag or repo@digest, normalised
/// container_layers  (container_id)     ─parent_chain_id→ layers      a container's read-write layer
/// </code>
/// </summary>
internal static class GraphSchema
{
    public const string Component = "graph";

    public static readonly IReadOnlyList<string> Steps =
    [
        """
        CREATE TABLE layers(
            driver TEXT NOT NULL,
            chain_id TEXT NOT NULL,
            diff_id TEXT NOT NULL,
            parent_chain_id TEXT,
            cache_id TEXT NOT NULL,
            size INTEGER NOT NULL,
            blob_digest TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY(driver, chain_id),
            UNIQUE(driver, cache_id),
            FOREIGN KEY(driver, parent_chain_id) REFERENCES layers(driver, chain_id));
        CREATE TABLE images(
            driver TEXT NOT NULL,
            id TEXT NOT NULL,
            top_chain_id TEXT,
            parent_id TEXT,
            created TEXT NOT NULL,
            size INTEGER NOT NULL,
            last_tag_time TEXT,
            PRIMARY KEY(driver, id),
            FOREIGN KEY(driver, top_chain_id) REFERENCES layers(driver, chain_id));
        CREATE TABLE refs(
            driver TEXT NOT NULL,
            name TEXT NOT NULL,
            repository TEXT NOT NULL,
            kind TEXT NOT NULL CHECK(kind IN ('tag', 'digest')),
            image_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY(driver, name),
            FOREIGN KEY(driver, image_id) REFERENCES images(driver, id) ON DELETE CASCADE);
        CREATE INDEX refs_by_image ON refs(driver, image_id);
        CREATE TABLE container_layers(
            container_id TEXT PRIMARY KEY,
            driver TEXT NOT NULL,
            image_id TEXT NOT NULL,
            parent_chain_id TEXT,
            cache_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            FOREIGN KEY(driver, parent_chain_id) REFERENCES layers(driver, chain_id));
        """,
        // The uncompressed tar's length, so save can write a layer's tar header without a counting pass.
        "ALTER TABLE layers ADD COLUMN tar_size INTEGER;",
    ];
}
