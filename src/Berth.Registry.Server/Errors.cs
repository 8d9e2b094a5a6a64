using System.Net;

namespace Berth.Registry.Server;

/// <summary>The distribution spec's error codes, each with the status the spec gives it.</summary>
public sealed record ErrorCode(string Code, HttpStatusCode Status, string Message)
{
    public static readonly ErrorCode BlobUnknown = new("BLOB_UNKNOWN", HttpStatusCode.NotFound, "blob unknown to registry");
    public static readonly ErrorCode BlobUploadInvalid = new("BLOB_UPLOAD_INVALID", HttpStatusCode.BadRequest, "blob upload invalid");
    public static readonly ErrorCode BlobUploadUnknown = new("BLOB_UPLOAD_UNKNOWN", HttpStatusCode.NotFound, "blob upload unknown to registry");
    public static readonly ErrorCode DigestInvalid = new("DIGEST_INVALID", HttpStatusCode.BadRequest, "provided digest did not match uploaded content");
    public static readonly ErrorCode ManifestBlobUnknown = new("MANIFEST_BLOB_UNKNOWN", HttpStatusCode.BadRequest, "manifest references a manifest or blob unknown to registry");
    public static readonly ErrorCode ManifestInvalid = new("MANIFEST_INVALID", HttpStatusCode.BadRequest, "manifest invalid");
    public static readonly ErrorCode ManifestUnknown = new("MANIFEST_UNKNOWN", HttpStatusCode.NotFound, "manifest unknown to registry");
    public static readonly ErrorCode NameInvalid = new("NAME_INVALID", HttpStatusCode.BadRequest, "invalid repository name");
    public static readonly ErrorCode NameUnknown = new("NAME_UNKNOWN", HttpStatusCode.NotFound, "repository name not known to registry");
    public static readonly ErrorCode SizeInvalid = new("SIZE_INVALID", HttpStatusCode.BadRequest, "provided length did not match content length");
    public static readonly ErrorCode Unauthorized = new("UNAUTHORIZED", HttpStatusCode.Unauthorized, "authentication required");
    public static readonly ErrorCode Denied = new("DENIED", HttpStatusCode.Forbidden, "requested access to the resource is denied");
    public static readonly ErrorCode Unsupported = new("UNSUPPORTED", HttpStatusCode.MethodNotAllowed, "the operation is unsupported");
    public static readonly ErrorCode TooManyRequests = new("TOOMANYREQUESTS", HttpStatusCode.TooManyRequests, "too many requests");
}

/// <summary>
/// A request the registry refuses. Handlers throw it; the dispatcher turns it into the spec's
/// <c>{"errors":[...]}</c> body. <paramref name="Status"/> overrides the code's usual status where
/// the spec asks for another (413 for an oversized manifest, 416 for an out-of-order chunk).
/// </summary>
public sealed class RegistryException(ErrorCode error, string? detail = null, string? message = null, HttpStatusCode? status = null)
    : Exception(message ?? error.Message)
{
    public ErrorCode Error { get; } = error;
    public string? Detail { get; } = detail;
    public HttpStatusCode Status { get; } = status ?? error.Status;
}
