namespace Berth.Registry;

/// <summary>A layer as the Graph keeps it: chain id, diff id, unpacked size, and the blob it came from.</summary>
public sealed record StoredLayer(string ChainId, string DiffId, long Size, string? BlobDigest);

/// <summary>
/// An image ready to push: its config bytes, its layers bottom first, and the repositories
/// (<c>domain/path</c>) it is known in, which are where a cross-repository mount can take blobs from.
/// </summary>
public sealed record PushableImage(string Id, byte[] Config, IReadOnlyList<StoredLayer> Layers, IReadOnlyList<string> Repositories);

/// <summary>
/// What pull and push need from the Graph. The daemon adapts <c>Berth.Graph.ImageStore</c> to it; tests
/// can stand a small fake in its place.
/// </summary>
public interface IImageStore
{
    bool HasLayer(string chainId);
    /// <summary>Hashes, decompresses and extracts <paramref name="blob"/> in one pass; nothing is visible if it fails (digest mismatch included).</summary>
    Task<StoredLayer> ImportLayerAsync(Stream blob, string? parentChainId, string blobDigest, CancellationToken ct);
    /// <summary>Registers the image named by its config (id = sha256 of the bytes); returns the id.</summary>
    string RegisterImage(byte[] config, IReadOnlyList<string> tags);
    void AddDigestReference(string imageId, string canonicalReference);
    /// <summary>The image id a reference names now, or null.</summary>
    string? FindImageId(string reference);
    PushableImage? FindForPush(string reference);
    /// <summary>The tags (the part after the colon) that local images carry in <paramref name="repository"/>, sorted.</summary>
    IReadOnlyList<string> TagsOf(string repository);
    /// <summary>The stored blob, when the layer still has the compressed blob it was pulled as; else null.</summary>
    Stream? OpenCompressedBlob(StoredLayer layer);
    /// <summary>The layer as an uncompressed tar.</summary>
    Stream OpenLayerTar(string chainId);
}
