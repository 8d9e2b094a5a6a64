namespace Berth.Graph;

/// <summary>
/// A graph driver stores layers (each named by an opaque id) and assembles a container's rootfs from them.
/// Implementations keep all their data under <c>dataRoot/&lt;Name&gt;/</c> and are registered in
/// <see cref="Drivers.GraphDrivers"/>; every one passes the shared conformance suite.
/// </summary>
public interface IGraphDriver
{
    /// <summary>"overlay2", "vfs" or "btrfs".</summary>
    string Name { get; }

    /// <summary>
    /// True when a layer's contents do not depend on its parent's at <see cref="Create"/> time (overlay2: each
    /// layer is its own directory), so a stack's diffs may be applied concurrently once the layers are created.
    /// vfs and btrfs copy or snapshot the parent when creating the child.
    /// </summary>
    bool LayersIndependent { get; }

    /// <summary>A new layer on top of <paramref name="parentId"/>: filled by <see cref="ApplyDiff"/>, or used read-write as a container layer.</summary>
    void Create(string id, string? parentId);

    /// <summary>The merged view's path. Reference-counted: n calls need n <see cref="Unmount"/> calls.</summary>
    string Mount(string id);

    void Unmount(string id);

    /// <summary>Unmounts if needed and deletes the layer. Removing a missing layer is not an error.</summary>
    void Remove(string id);

    bool Exists(string id);

    /// <summary>
    /// Extracts an uncompressed layer tar into the layer, turning <c>.wh.</c> whiteouts and opaque markers into
    /// the driver's native form. Returns bytes applied. A hostile tar throws <see cref="InvalidDataException"/>.
    /// </summary>
    long ApplyDiff(string id, Stream layerTar);

    /// <summary>What the layer changed relative to <paramref name="parentId"/>, sorted by path (<c>docker diff</c>).</summary>
    IReadOnlyList<Drivers.LayerChange> Changes(string id, string? parentId);

    /// <summary>Writes the layer's changes as an uncompressed layer tar with Docker whiteouts (commit, and the conformance suite's round trips).</summary>
    void WriteDiff(string id, string? parentId, Stream output);

    /// <summary>Key/value pairs for <c>docker info</c>'s DriverStatus.</summary>
    IReadOnlyList<KeyValuePair<string, string>> Status { get; }

    /// <summary>Paths for <c>docker inspect</c>'s GraphDriver.Data (overlay2: LowerDir, UpperDir, WorkDir, MergedDir).</summary>
    IReadOnlyDictionary<string, string> Metadata(string id);

    /// <summary>Ids of all layers the driver holds (used to sweep layers a crash left unrecorded).</summary>
    IReadOnlyList<string> List();
}
