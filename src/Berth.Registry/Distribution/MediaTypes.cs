namespace Berth.Registry.Distribution;

/// <summary>The manifest and blob media types of Docker's schema2 and the OCI image spec.</summary>
public static class MediaTypes
{
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

    /// <summary>What a pull accepts, best first; schema1 is listed so a registry that only has it says so instead of 404.</summary>
    public static readonly string[] Accept =
    [
        OciIndex, DockerManifestList, OciManifest, DockerManifest, DockerSchema1Signed, DockerSchema1,
    ];

    public static bool IsIndex(string? t) => t is OciIndex or DockerManifestList;
    public static bool IsImageManifest(string? t) => t is OciManifest or DockerManifest;
    public static bool IsSchema1(string? t) => t is DockerSchema1 or DockerSchema1Signed || t?.StartsWith("application/vnd.docker.distribution.manifest.v1", StringComparison.Ordinal) == true;
    public static bool IsLayer(string? t) =>
        t is DockerLayer or OciLayer or OciLayerGzip or OciLayerZstd or DockerForeignLayer
        || t?.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal) == true;
}
