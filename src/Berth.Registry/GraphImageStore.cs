using Berth.Graph;
using Berth.Graph.References;

namespace Berth.Registry;

/// <summary>The Graph's <see cref="ImageStore"/> as pull and push see it.</summary>
public sealed class GraphImageStore(ImageStore images) : IImageStore
{
    public bool HasLayer(string chainId) => images.HasLayer(chainId);

    public async Task<StoredLayer> ImportLayerAsync(Stream blob, string? parentChainId, string blobDigest, CancellationToken ct)
    {
        var l = await images.ImportLayerAsync(blob, parentChainId, blobDigest, ct).ConfigureAwait(false);
        return new StoredLayer(l.ChainId, l.DiffId, l.Size, l.BlobDigest);
    }

    public string RegisterImage(byte[] config, IReadOnlyList<string> tags) => images.RegisterImage(config, tags).Id;

    public void AddDigestReference(string imageId, string canonicalReference) => images.AddDigestReference(imageId, canonicalReference);

    public string? FindImageId(string reference) => images.Find(reference)?.Id;

    /// <summary>Only a tag names an image to push (never an id prefix), as in Docker.</summary>
    public PushableImage? FindForPush(string reference)
    {
        var r = Reference.Parse(reference).WithDefaultTag();
        var img = images.Find(r.ToString());
        if (img is null || !img.RepoTags.Contains(r.FamiliarString)) return null;
        var layers = new List<StoredLayer>();
        for (int i = 0; i < img.DiffIds.Count; i++)
        {
            var l = images.FindLayer(ImageStore.ChainId(img.DiffIds.Take(i + 1).ToList()))
                ?? throw new RegistryException(RegistryErrorKind.NotFound, $"layer {img.DiffIds[i]} of {reference} is missing from the store");
            layers.Add(new StoredLayer(l.ChainId, l.DiffId, l.Size, l.BlobDigest));
        }
        var repos = img.RepoTags.Concat(img.RepoDigests).Select(n => Reference.Parse(n).Name).Distinct().ToList();
        return new PushableImage(img.Id, images.GetConfigBytes(img.Id), layers, repos);
    }

    public IReadOnlyList<string> TagsOf(string repository) => images.List()
        .SelectMany(i => i.RepoTags)
        .Select(t => Reference.Parse(t))
        .Where(r => r.Name == repository && r.Tag is not null)
        .Select(r => r.Tag!).Distinct().Order(StringComparer.Ordinal).ToList();

    public Stream? OpenCompressedBlob(StoredLayer layer) =>
        layer.BlobDigest is { } d && images.Content.Exists(d) ? images.Content.Open(d) : null;

    public Stream OpenLayerTar(string chainId) => images.OpenLayerTar(chainId);
}
