using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Berth.Registry.Server;

/// <summary>
/// The OCI distribution 1.1 API. One request delegate routes by hand rather than through
/// ASP.NET routing because a repository name spans any number of path segments and the route is
/// recognised from the path's tail (…/manifests/&lt;ref&gt;, …/blobs/uploads/&lt;id&gt;); every
/// handler throws <see cref="RegistryException"/> for the spec's error bodies.
/// </summary>
public sealed partial class RegistryApi(Storage storage, RegistryOptions options, ILogger logger)
{
    public const int MaxManifestBytes = 4 << 20;
    const string Realm = "berth-registry";

    readonly Htpasswd? _auth = options.Htpasswd is { } f ? Htpasswd.Load(f) : null;
    readonly SemaphoreSlim _inFlight = new(options.MaxConcurrentRequests);

    public async Task HandleAsync(HttpContext ctx)
    {
        var req = ctx.Request;
        var res = ctx.Response;
        res.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        bool admitted = false;
        try
        {
            admitted = _inFlight.Wait(0);
            if (!admitted)
            {
                res.Headers.RetryAfter = "1";
                throw new RegistryException(ErrorCode.TooManyRequests, $"more than {options.MaxConcurrentRequests} requests in flight");
            }
            if (_auth is not null && !_auth.Check(req.Headers.Authorization))
            {
                res.Headers.WWWAuthenticate = $"Basic realm=\"{Realm}\"";
                throw new RegistryException(ErrorCode.Unauthorized);
            }
            await RouteAsync(ctx);
            Log.Request(logger, req.Method, req.Path, res.StatusCode);
        }
        catch (RegistryException e)
        {
            Log.Refused(logger, req.Method, req.Path, e.Error.Code, e.Detail);
            await WriteErrorAsync(ctx, e);
        }
        catch (BadHttpRequestException e)
        {
            await WriteErrorAsync(ctx, new RegistryException(ErrorCode.BlobUploadInvalid, e.Message, status: (HttpStatusCode)e.StatusCode));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException && ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-body; what was written of an upload stays, resumable.
        }
        catch (Exception e)
        {
            Log.Failed(logger, e, req.Method, req.Path);
            if (!res.HasStarted) { res.Clear(); res.StatusCode = 500; }
        }
        finally
        {
            if (admitted) _inFlight.Release();
        }
    }

    Task RouteAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "";
        var method = ctx.Request.Method;
        if (path is "/v2" or "/v2/")
            return method is "GET" or "HEAD" ? Json(ctx, HttpStatusCode.OK, "{}"u8.ToArray()) : throw NotAllowed();
        if (!path.StartsWith("/v2/", StringComparison.Ordinal)) throw NotFound();
        var rest = path[4..];
        if (rest == "_catalog") return method == "GET" ? CatalogAsync(ctx) : throw NotAllowed();

        var segs = rest.Split('/');
        int n = segs.Length;
        string Name(int tail) => string.Join('/', segs, 0, n - tail);
        if (n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads")
        {
            var name = CheckedName(Name(3));
            var id = segs[n - 1];
            if (id.Length == 0) return method == "POST" ? StartUploadAsync(ctx, name) : throw NotAllowed();
            return method switch
            {
                "GET" => UploadStatusAsync(ctx, name, id),
                "PATCH" => PatchUploadAsync(ctx, name, id),
                "PUT" => CompleteUploadAsync(ctx, name, id),
                "DELETE" => CancelUploadAsync(ctx, name, id),
                _ => throw NotAllowed(),
            };
        }
        if (n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" && method == "POST")
            return StartUploadAsync(ctx, CheckedName(Name(2)));
        if (n >= 3)
        {
            var kind = segs[n - 2];
            var last = segs[n - 1];
            switch (kind)
            {
                case "manifests":
                    {
                        var name = CheckedName(Name(2));
                        return method switch
                        {
                            "GET" or "HEAD" => GetManifestAsync(ctx, name, last),
                            "PUT" => PutManifestAsync(ctx, name, last),
                            "DELETE" => DeleteManifest(ctx, name, last),
                            _ => throw NotAllowed(),
                        };
                    }
                case "blobs":
                    {
                        var name = CheckedName(Name(2));
                        return method switch
                        {
                            "GET" or "HEAD" => GetBlobAsync(ctx, name, Digest.Parse(last)),
                            "DELETE" => DeleteBlob(ctx, name, Digest.Parse(last)),
                            _ => throw NotAllowed(),
                        };
                    }
                case "tags" when last == "list":
                    return method == "GET" ? TagsAsync(ctx, CheckedName(Name(2))) : throw NotAllowed();
                case "referrers":
                    return method == "GET" ? ReferrersAsync(ctx, CheckedName(Name(2)), Digest.Parse(last)) : throw NotAllowed();
            }
        }
        throw NotFound();
    }

    static string CheckedName(string name)
    {
        References.CheckName(name);
        return name;
    }

    static RegistryException NotAllowed() => new(ErrorCode.Unsupported, "method not allowed on this route");
    static RegistryException NotFound() => new(ErrorCode.NameUnknown, "no such route", "not found", HttpStatusCode.NotFound);

    void CheckWritable()
    {
        if (options.ReadOnly) throw new RegistryException(ErrorCode.Denied, "the registry is in read-only mode");
    }

    static async Task WriteErrorAsync(HttpContext ctx, RegistryException e)
    {
        var res = ctx.Response;
        if (res.HasStarted) { ctx.Abort(); return; }
        var keep = (res.Headers.WWWAuthenticate.ToString(), res.Headers.RetryAfter.ToString(), res.Headers["Range"].ToString(), res.Headers["Docker-Upload-UUID"].ToString());
        res.Clear();
        res.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        if (keep.Item1.Length > 0) res.Headers.WWWAuthenticate = keep.Item1;
        if (keep.Item2.Length > 0) res.Headers.RetryAfter = keep.Item2;
        if (keep.Item3.Length > 0) res.Headers["Range"] = keep.Item3;
        if (keep.Item4.Length > 0) res.Headers["Docker-Upload-UUID"] = keep.Item4;
        var body = JsonSerializer.SerializeToUtf8Bytes(new ErrorBody([new ErrorEntry(e.Error.Code, e.Message, e.Detail)]), RegistryJson.Default.ErrorBody);
        await Json(ctx, e.Status, body);
    }

    static Task Json(HttpContext ctx, HttpStatusCode status, byte[] body, string contentType = "application/json")
    {
        var res = ctx.Response;
        res.StatusCode = (int)status;
        res.ContentType = contentType;
        res.ContentLength = body.Length;
        return ctx.Request.Method == "HEAD" ? Task.CompletedTask : res.Body.WriteAsync(body).AsTask();
    }

    static Task Json<T>(HttpContext ctx, T value, JsonTypeInfo<T> type, string contentType = "application/json") =>
        Json(ctx, HttpStatusCode.OK, JsonSerializer.SerializeToUtf8Bytes(value, type), contentType);

    // ---- manifests

    static void CheckReference(string reference)
    {
        if (!References.IsTag(reference) && !Digest.TryParse(reference, out _))
            throw new RegistryException(ErrorCode.ManifestInvalid, "invalid tag or digest", "invalid reference");
    }

    async Task GetManifestAsync(HttpContext ctx, string name, string reference)
    {
        CheckReference(reference);
        var m = storage.GetManifest(name, reference) ?? throw new RegistryException(ErrorCode.ManifestUnknown, reference);
        var res = ctx.Response;
        res.StatusCode = 200;
        res.ContentType = m.MediaType;
        res.ContentLength = m.Size;
        res.Headers["Docker-Content-Digest"] = m.Digest.ToString();
        res.Headers.ETag = $"\"{m.Digest}\"";
        if (ctx.Request.Method != "HEAD") await res.SendFileAsync(m.Path, ctx.RequestAborted);
    }

    async Task PutManifestAsync(HttpContext ctx, string name, string reference)
    {
        CheckWritable();
        CheckReference(reference);
        if (ctx.Request.ContentLength > MaxManifestBytes) throw TooLarge();
        var bytes = await ReadBoundedAsync(ctx.Request.Body, MaxManifestBytes, ctx.RequestAborted) ?? throw TooLarge();
        var info = ManifestInfo.Parse(bytes, ctx.Request.ContentType);

        bool byDigest = Digest.TryParse(reference, out var claimed);
        var digest = byDigest && claimed.Algorithm != "sha256" ? HashWith(claimed, bytes) : Digest.Sha256Of(bytes);
        if (byDigest && digest != claimed)
            throw new RegistryException(ErrorCode.DigestInvalid, $"manifest digest is {digest}, not {claimed}");
        foreach (var b in info.Blobs)
            if (!storage.IsLayerLinked(name, b) || !storage.TouchBlob(b))
                throw new RegistryException(ErrorCode.ManifestBlobUnknown, b.ToString(), "blob unknown to registry");
        foreach (var c in info.Children)
            if (!storage.HasManifest(name, c) || !storage.TouchBlob(c))
                throw new RegistryException(ErrorCode.ManifestBlobUnknown, c.ToString(), "manifest unknown to registry");

        var asReferrer = info.Subject is null ? null : new Descriptor(info.MediaType, digest.ToString(), bytes.Length, info.ArtifactType, info.Annotations);
        storage.PutManifest(name, digest, bytes, info.MediaType, byDigest ? null : reference, info.Subject, asReferrer);
        Log.ManifestPushed(logger, name, digest.ToString(), info.MediaType);

        var res = ctx.Response;
        res.StatusCode = 201;
        res.Headers.Location = $"/v2/{name}/manifests/{digest}";
        res.Headers["Docker-Content-Digest"] = digest.ToString();
        if (info.Subject is { } s) res.Headers["OCI-Subject"] = s.ToString();
        res.ContentLength = 0;
    }

    static RegistryException TooLarge() =>
        new(ErrorCode.SizeInvalid, $"manifests are limited to {MaxManifestBytes} bytes", "manifest too large", HttpStatusCode.RequestEntityTooLarge);

    static Digest HashWith(Digest like, byte[] bytes)
    {
        using var h = like.NewHash();
        h.AppendData(bytes);
        return new Digest(like.Algorithm, Convert.ToHexStringLower(h.GetHashAndReset()));
    }

    /// <summary>Reads a body of at most <paramref name="limit"/> bytes; null when it is longer.</summary>
    static async Task<byte[]?> ReadBoundedAsync(Stream body, int limit, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        var buf = new byte[81920];
        int n;
        while ((n = await body.ReadAsync(buf, ct)) > 0)
        {
            if (ms.Length + n > limit) return null;
            ms.Write(buf, 0, n);
        }
        return ms.ToArray();
    }

    Task DeleteManifest(HttpContext ctx, string name, string reference)
    {
        CheckWritable();
        CheckReference(reference);
        bool deleted;
        if (Digest.TryParse(reference, out var d))
        {
            Digest? subject = null;
            if (storage.GetManifest(name, reference) is { } m)
            {
                try { subject = ManifestInfo.Parse(File.ReadAllBytes(m.Path), m.MediaType).Subject; }
                catch (RegistryException) { }
            }
            deleted = storage.DeleteManifest(name, d, subject);
        }
        else deleted = storage.DeleteTag(name, reference);
        if (!deleted) throw new RegistryException(ErrorCode.ManifestUnknown, reference);
        ctx.Response.StatusCode = 202;
        ctx.Response.ContentLength = 0;
        return Task.CompletedTask;
    }

    // ---- content discovery

    Task TagsAsync(HttpContext ctx, string name)
    {
        if (!storage.RepositoryExists(name)) throw new RegistryException(ErrorCode.NameUnknown, name);
        var page = Paginate(ctx, storage.Tags(name), $"/v2/{name}/tags/list");
        return Json(ctx, new TagList(name, page), RegistryJson.Default.TagList);
    }

    Task CatalogAsync(HttpContext ctx) =>
        Json(ctx, new Catalog(Paginate(ctx, storage.Repositories(), "/v2/_catalog")), RegistryJson.Default.Catalog);

    /// <summary>The spec's n/last pagination over a sorted list, with a Link header when more follow.</summary>
    static string[] Paginate(HttpContext ctx, List<string> sorted, string route)
    {
        var q = ctx.Request.Query;
        IEnumerable<string> items = sorted;
        if (q["last"].ToString() is { Length: > 0 } last) items = items.Where(t => string.CompareOrdinal(t, last) > 0);
        if (!int.TryParse(q["n"].ToString(), out var n) || n < 0) return items.ToArray();
        var all = items.ToList();
        var page = all.Take(n).ToArray();
        if (all.Count > page.Length && page.Length > 0)
            ctx.Response.Headers.Link = $"<{route}?n={n}&last={Uri.EscapeDataString(page[^1])}>; rel=\"next\"";
        return page;
    }

    Task ReferrersAsync(HttpContext ctx, string name, Digest subject)
    {
        var list = storage.Referrers(name, subject);
        if (ctx.Request.Query["artifactType"].ToString() is { Length: > 0 } type)
        {
            list = list.Where(d => d.ArtifactType == type).ToList();
            ctx.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        }
        return Json(ctx, new ImageIndex(2, ManifestInfo.OciIndex, list.ToArray()), RegistryJson.Default.ImageIndex, ManifestInfo.OciIndex);
    }
}
