using System.Text.Json;

namespace Berth.Registry.Server;

/// <summary>
/// What the registry needs to know about a pushed manifest: its media type, the blobs and
/// child manifests it references (checked to exist before it is stored, and marked by garbage
/// collection), and its OCI 1.1 subject. The manifest's bytes are never re-serialised; this
/// only reads them.
/// </summary>
public sealed record ManifestInfo(
    string MediaType,
    bool IsIndex,
    IReadOnlyList<Digest> Blobs,
    IReadOnlyList<Digest> Children,
    Digest? Subject,
    string? ArtifactType,
    Dictionary<string, string>? Annotations)
{
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";

    /// <summary>Parses a manifest; <paramref name="contentType"/> is the request's Content-Type, if any.</summary>
    public static ManifestInfo Parse(ReadOnlySpan<byte> bytes, string? contentType)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes.ToArray()); }
        catch (JsonException e) { throw Invalid("manifest is not valid JSON: " + e.Message); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Invalid("manifest is not a JSON object");
            if (!root.TryGetProperty("schemaVersion", out var sv) || sv.ValueKind != JsonValueKind.Number || sv.GetInt32() != 2)
                throw Invalid(root.TryGetProperty("schemaVersion", out var v) && v.ValueKind == JsonValueKind.Number && v.GetInt32() == 1
                    ? "schema1 manifests are not supported" : "schemaVersion must be 2");
            var bodyType = root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            var headerType = NormaliseContentType(contentType);
            if (bodyType is not null && headerType is not null && headerType != bodyType)
                throw Invalid($"Content-Type {headerType} does not match the manifest's mediaType {bodyType}");
            var mediaType = bodyType ?? headerType ?? (root.TryGetProperty("manifests", out _) ? OciIndex : OciManifest);

            bool isIndex = mediaType is DockerList or OciIndex;
            if (!isIndex && mediaType is not (DockerManifest or OciManifest))
                throw Invalid("unsupported manifest media type " + mediaType);

            var blobs = new List<Digest>();
            var children = new List<Digest>();
            string? configType = null;
            if (isIndex)
            {
                foreach (var m in Array(root, "manifests", required: true)) children.Add(DescriptorDigest(m));
            }
            else
            {
                if (!root.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object) throw Invalid("manifest has no config descriptor");
                blobs.Add(DescriptorDigest(config));
                configType = config.TryGetProperty("mediaType", out var ct) && ct.ValueKind == JsonValueKind.String ? ct.GetString() : null;
                foreach (var layer in Array(root, "layers", required: true))
                {
                    var d = DescriptorDigest(layer);
                    // Foreign (non-distributable) layers live elsewhere by design; they are never pushed here.
                    var lt = layer.TryGetProperty("mediaType", out var lm) && lm.ValueKind == JsonValueKind.String ? lm.GetString() ?? "" : "";
                    if (!lt.Contains("foreign", StringComparison.Ordinal) && !lt.Contains("nondistributable", StringComparison.Ordinal)) blobs.Add(d);
                }
            }

            Digest? subject = root.TryGetProperty("subject", out var subj) && subj.ValueKind == JsonValueKind.Object ? DescriptorDigest(subj) : null;
            var artifactType = root.TryGetProperty("artifactType", out var at) && at.ValueKind == JsonValueKind.String ? at.GetString() : null;
            // The referrers API reports config.mediaType when a manifest sets no artifactType (OCI 1.1).
            artifactType ??= configType;
            Dictionary<string, string>? annotations = null;
            if (root.TryGetProperty("annotations", out var ann) && ann.ValueKind == JsonValueKind.Object)
            {
                annotations = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var p in ann.EnumerateObject())
                    if (p.Value.ValueKind == JsonValueKind.String) annotations[p.Name] = p.Value.GetString()!;
            }
            return new ManifestInfo(mediaType, isIndex, blobs, children, subject, artifactType, annotations);
        }
    }

    public static string? NormaliseContentType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType)) return null;
        var t = contentType.Split(';')[0].Trim();
        return t is "application/json" or "application/octet-stream" or "" ? null : t;
    }

    static IEnumerable<JsonElement> Array(JsonElement root, string name, bool required)
    {
        if (root.TryGetProperty(name, out var arr) && arr.ValueKind == JsonValueKind.Array) return arr.EnumerateArray();
        if (required) throw Invalid($"manifest has no {name} array");
        return [];
    }

    static Digest DescriptorDigest(JsonElement descriptor)
    {
        if (descriptor.ValueKind == JsonValueKind.Object && descriptor.TryGetProperty("digest", out var d) && d.ValueKind == JsonValueKind.String
            && Digest.TryParse(d.GetString()!, out var digest))
            return digest;
        throw Invalid("descriptor has a missing or invalid digest");
    }

    static RegistryException Invalid(string detail) => new(ErrorCode.ManifestInvalid, detail);
}
