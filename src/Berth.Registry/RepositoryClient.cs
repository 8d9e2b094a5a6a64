using Berth.Api;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Berth.Registry.Auth;
using Berth.Registry.Distribution;
using Berth.Registry.Transport;

namespace Berth.Registry;

/// <summary>
/// The distribution API for one repository on one registry endpoint: manifests, blobs and uploads, every
/// request authorised by an <see cref="Authorizer"/> and every failure turned into a
/// <see cref="RegistryException"/> whose message names what the registry said.
/// </summary>
public sealed class RepositoryClient
{
    /// <summary>Manifests are small; anything bigger is garbage or an attack.</summary>
    const int MaxManifestBytes = 4 << 20;

    readonly HttpClient _http;
    readonly Authorizer _auth;

    RepositoryClient(HttpClient http, Uri baseUri, string host, string repository, Authorizer auth)
    {
        _http = http;
        BaseUri = baseUri;
        Host = host;
        Repository = repository;
        _auth = auth;
    }

    public Uri BaseUri { get; }
    public string Host { get; }
    /// <summary>Path inside the registry: <c>library/busybox</c>.</summary>
    public string Repository { get; }

    /// <summary>
    /// Opens a session: finds the endpoint's scheme, then pings <c>/v2/</c> as Docker does, so the auth
    /// challenge is known before any request with a body goes out.
    /// </summary>
    public static async Task<RepositoryClient> OpenAsync(RegistryTransport transport, string host, string repository,
        AuthConfig credentials, IReadOnlyList<string> actions, IReadOnlyList<string>? extraScopes, CancellationToken ct, Uri? baseUri = null)
    {
        baseUri ??= await transport.BaseUriAsync(host, ct).ConfigureAwait(false);
        var http = transport.ClientFor(baseUri.Authority);
        var scopes = new List<string> { $"repository:{repository}:{string.Join(',', actions)}" };
        if (extraScopes is not null) scopes.AddRange(extraScopes);
        var client = new RepositoryClient(http, baseUri, host, repository, new Authorizer(http, credentials, scopes));
        await client.PingAsync(ct).ConfigureAwait(false);
        return client;
    }

    /// <summary>GET /v2/: 200 or 401 with a challenge are both fine; anything else means this is no registry.</summary>
    public async Task PingAsync(CancellationToken ct)
    {
        using var resp = await SendOnceAsync(() => new HttpRequestMessage(HttpMethod.Get, Url("/v2/")), ct, authorize: false).ConfigureAwait(false);
        if (resp.StatusCode == HttpStatusCode.Unauthorized) { _auth.OnUnauthorized(resp); return; }
        if (!resp.IsSuccessStatusCode)
            throw new RegistryException(RegistryErrorKind.Invalid, $"{BaseUri}v2/ does not look like a registry: status {(int)resp.StatusCode} {resp.ReasonPhrase}");
    }

    /// <summary>
    /// Checks credentials as docker login does: ping /v2/, answer its challenge (a token with no scope, or
    /// basic credentials), and expect a 200.
    /// </summary>
    public static async Task LoginAsync(RegistryTransport transport, string host, AuthConfig credentials, CancellationToken ct)
    {
        var baseUri = await transport.BaseUriAsync(host, ct).ConfigureAwait(false);
        var http = transport.ClientFor(baseUri.Authority);
        var client = new RepositoryClient(http, baseUri, host, "", new Authorizer(http, credentials, []));
        await client.PingAsync(ct).ConfigureAwait(false);
        await client.CheckLoginAsync(ct).ConfigureAwait(false);
    }

    async Task CheckLoginAsync(CancellationToken ct)
    {
        using var resp = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, Url("/v2/")), ct).ConfigureAwait(false);
        if (resp.StatusCode == HttpStatusCode.Unauthorized)
            throw new RegistryException(RegistryErrorKind.Unauthorized, $"login attempt to {BaseUri}v2/ failed with status: 401 Unauthorized");
        await EnsureSuccessAsync(resp, "login", ct).ConfigureAwait(false);
    }

    Uri Url(string path) => new(BaseUri, path);

    string RepoUrl(string rest) => $"/v2/{Repository}/{rest}";

    /// <summary>One request, authorised; no retry.</summary>
    async Task<HttpResponseMessage> SendOnceAsync(Func<HttpRequestMessage> make, CancellationToken ct, bool authorize = true)
    {
        var req = make();
        if (authorize) req.Headers.Authorization = await _auth.HeaderAsync(ct).ConfigureAwait(false);
        try
        {
            return await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            // HttpClient's own text ("The SSL connection could not be established") names neither cause nor cure.
            throw new RegistryException(RegistryErrorKind.Invalid,
                $"{req.Method} \"{req.RequestUri}\": tls handshake failed: {e.InnerException?.Message ?? e.Message} " +
                $"(the registry's certificate must chain to a system CA or to certs.d/{Host}/ca.crt; a registry that asks for a client certificate needs certs.d/{Host}/client.cert and client.key)", e);
        }
        catch (HttpRequestException e)
        {
            throw new RegistryException(RegistryErrorKind.Transient, $"{req.Method} \"{req.RequestUri}\": {e.Message}", e);
        }
        finally
        {
            // The content (if any) belongs to the caller; the message itself is done with.
            if (req.Content is null) req.Dispose();
        }
    }

    /// <summary>Sends, and on a 401 learns the challenge and tries once more with a fresh token.</summary>
    async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, CancellationToken ct)
    {
        var resp = await SendOnceAsync(make, ct).ConfigureAwait(false);
        if (resp.StatusCode != HttpStatusCode.Unauthorized) return resp;
        _auth.OnUnauthorized(resp);
        resp.Dispose();
        return await SendOnceAsync(make, ct).ConfigureAwait(false);
    }

    /// <summary>Throws the registry's own error (its <c>errors[0]</c>) for a failed response, mapped to a kind.</summary>
    async Task EnsureSuccessAsync(HttpResponseMessage resp, string what, CancellationToken ct)
    {
        if (resp.IsSuccessStatusCode) return;
        string detail = "";
        try
        {
            var bytes = await ReadLimitedAsync(resp.Content, 64 << 10, ct).ConfigureAwait(false);
            var body = JsonSerializer.Deserialize(bytes, RegistryJson.Default.ErrorBody);
            if (body?.Errors is { Count: > 0 } errs)
                detail = string.Join("; ", errs.Select(e => (e.Code?.ToLowerInvariant() ?? "error") + ": " + e.Message));
        }
        catch (Exception e) when (e is JsonException or IOException or HttpRequestException) { }
        int status = (int)resp.StatusCode;
        var kind = resp.StatusCode switch
        {
            HttpStatusCode.Unauthorized => RegistryErrorKind.Unauthorized,
            HttpStatusCode.Forbidden => RegistryErrorKind.Denied,
            HttpStatusCode.NotFound => RegistryErrorKind.NotFound,
            HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests => RegistryErrorKind.Transient,
            _ when status >= 500 => RegistryErrorKind.Transient,
            _ => RegistryErrorKind.Invalid,
        };
        if (detail.Length == 0)
            detail = kind == RegistryErrorKind.Unauthorized ? "unauthorized: authentication required" : $"{what} failed with status {status} {resp.ReasonPhrase}";
        throw new RegistryException(kind, detail);
    }

    static async Task<byte[]> ReadLimitedAsync(HttpContent content, int limit, CancellationToken ct)
    {
        if (content.Headers.ContentLength > limit)
            throw new RegistryException(RegistryErrorKind.Invalid, $"the registry sent {content.Headers.ContentLength} bytes where at most {limit} were expected");
        await using var s = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var ms = new MemoryStream();
        var buf = new byte[16384];
        int n;
        while ((n = await s.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > limit) throw new RegistryException(RegistryErrorKind.Invalid, $"the registry sent more than {limit} bytes where a small document was expected");
            ms.Write(buf, 0, n);
        }
        return ms.ToArray();
    }

    public static string Digest(ReadOnlySpan<byte> data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>A fetched manifest: its exact bytes (digests are over these), media type and digest.</summary>
    public sealed record ManifestBlob(byte[] Bytes, string MediaType, string Digest, Manifest Parsed);

    /// <summary>GET a manifest by tag or digest; verifies the digest when asked by digest, and parses it.</summary>
    public async Task<ManifestBlob> GetManifestAsync(string reference, CancellationToken ct)
    {
        using var resp = await SendAsync(() =>
        {
            var req = new HttpRequestMessage(HttpMethod.Get, Url(RepoUrl("manifests/" + reference)));
            foreach (var t in MediaTypes.Accept) req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(t));
            return req;
        }, ct).ConfigureAwait(false);
        if (resp.StatusCode == HttpStatusCode.NotFound)
            throw new RegistryException(RegistryErrorKind.NotFound, $"manifest for {Host}/{Repository}:{reference} not found: manifest unknown: manifest unknown");
        await EnsureSuccessAsync(resp, "fetching the manifest", ct).ConfigureAwait(false);
        byte[] bytes;
        try { bytes = await ReadLimitedAsync(resp.Content, MaxManifestBytes, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new RegistryException(RegistryErrorKind.Transient, $"reading the manifest for {Repository}:{reference}: {e.Message}", e);
        }
        string digest = Digest(bytes);
        if (reference.Contains(':') && reference != digest)
            throw new RegistryException(RegistryErrorKind.Invalid, $"manifest verification failed for digest {reference}: the registry sent content with digest {digest}");
        Manifest parsed;
        try { parsed = JsonSerializer.Deserialize(bytes, RegistryJson.Default.Manifest) ?? throw new JsonException("null manifest"); }
        catch (JsonException e)
        {
            throw new RegistryException(RegistryErrorKind.Invalid, $"the registry sent an invalid manifest for {Repository}:{reference} ({resp.Content.Headers.ContentType?.MediaType}): {e.Message}");
        }
        var contentType = resp.Content.Headers.ContentType?.MediaType;
        // The body's own mediaType wins: some registries send application/json or text/plain.
        var mediaType = parsed.MediaType ?? (contentType is not null && contentType != "application/json" && contentType != "text/plain" ? contentType : null);
        if (parsed.SchemaVersion == 1 || MediaTypes.IsSchema1(mediaType) || MediaTypes.IsSchema1(contentType)) mediaType = MediaTypes.DockerSchema1;
        else if (mediaType is null) mediaType = parsed.Manifests is not null ? MediaTypes.OciIndex : parsed.Config is not null ? MediaTypes.OciManifest : null;
        if (mediaType is null || !(MediaTypes.IsIndex(mediaType) || MediaTypes.IsImageManifest(mediaType) || mediaType == MediaTypes.DockerSchema1))
            throw new RegistryException(RegistryErrorKind.Invalid, $"unsupported manifest media type {mediaType ?? contentType ?? "(none)"} for {Repository}:{reference}");
        return new ManifestBlob(bytes, mediaType, digest, parsed);
    }

    /// <summary>Every tag of the repository, following the <c>Link: &lt;…&gt;; rel="next"</c> pages.</summary>
    public async Task<List<string>> ListTagsAsync(CancellationToken ct)
    {
        var tags = new List<string>();
        string? next = RepoUrl("tags/list");
        for (int page = 0; next is not null; page++)
        {
            if (page == 1000) throw new RegistryException(RegistryErrorKind.Invalid, $"the tag list of {Repository} does not end");
            var url = Url(next);
            using var resp = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, url), ct).ConfigureAwait(false);
            if (resp.StatusCode == HttpStatusCode.NotFound)
                throw new RegistryException(RegistryErrorKind.NotFound, $"repository {Host}/{Repository} not found");
            await EnsureSuccessAsync(resp, "listing tags", ct).ConfigureAwait(false);
            var bytes = await ReadLimitedAsync(resp.Content, MaxManifestBytes, ct).ConfigureAwait(false);
            try { tags.AddRange(JsonSerializer.Deserialize(bytes, RegistryJson.Default.TagList)?.Tags ?? []); }
            catch (JsonException e) { throw new RegistryException(RegistryErrorKind.Invalid, $"the registry sent an invalid tag list for {Repository}: {e.Message}"); }
            next = NextLink(resp);
        }
        return tags;
    }

    /// <summary>The target of a <c>rel="next"</c> Link header, relative to the registry, or null on the last page.</summary>
    static string? NextLink(HttpResponseMessage resp)
    {
        if (!resp.Headers.TryGetValues("Link", out var links)) return null;
        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            int open = link.IndexOf('<'), close = link.IndexOf('>');
            if (open >= 0 && close > open && link[close..].Contains("rel=\"next\"", StringComparison.Ordinal))
                return link[(open + 1)..close];
        }
        return null;
    }

    /// <summary>A small blob (an image config) read whole and checked against its descriptor.</summary>
    public async Task<byte[]> GetSmallBlobAsync(Descriptor d, CancellationToken ct)
    {
        using var resp = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, Url(RepoUrl("blobs/" + d.Digest))), ct).ConfigureAwait(false);
        await EnsureSuccessAsync(resp, $"fetching blob {d.Digest}", ct).ConfigureAwait(false);
        var bytes = await ReadLimitedAsync(resp.Content, (int)Math.Min(Math.Max(d.Size, 0) + 1, MaxManifestBytes * 4), ct).ConfigureAwait(false);
        if (Digest(bytes) != d.Digest)
            throw new RegistryException(RegistryErrorKind.Invalid, $"blob {d.Digest} failed verification: the registry sent content with digest {Digest(bytes)}");
        return bytes;
    }

    /// <summary>Opens a blob from <paramref name="offset"/> (a Range request when resuming). Returns the body and whether the server honoured the range.</summary>
    public async Task<(HttpResponseMessage Response, bool Ranged)> OpenBlobAsync(string digest, long offset, CancellationToken ct)
    {
        var resp = await SendAsync(() =>
        {
            var req = new HttpRequestMessage(HttpMethod.Get, Url(RepoUrl("blobs/" + digest)));
            if (offset > 0) req.Headers.Range = new RangeHeaderValue(offset, null);
            return req;
        }, ct).ConfigureAwait(false);
        try
        {
            await EnsureSuccessAsync(resp, $"fetching blob {digest}", ct).ConfigureAwait(false);
        }
        catch
        {
            resp.Dispose();
            throw;
        }
        return (resp, resp.StatusCode == HttpStatusCode.PartialContent);
    }

    public async Task<bool> BlobExistsAsync(string digest, CancellationToken ct)
    {
        using var resp = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, Url(RepoUrl("blobs/" + digest))), ct).ConfigureAwait(false);
        if (resp.StatusCode == HttpStatusCode.NotFound) return false;
        await EnsureSuccessAsync(resp, $"checking blob {digest}", ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Cross-repository mount; true when the registry linked the blob (201), false when it opened an upload instead.</summary>
    public async Task<bool> TryMountAsync(string digest, string fromRepository, CancellationToken ct)
    {
        using var resp = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post,
            Url(RepoUrl($"blobs/uploads/?mount={Uri.EscapeDataString(digest)}&from={Uri.EscapeDataString(fromRepository)}"))), ct).ConfigureAwait(false);
        if (resp.StatusCode == HttpStatusCode.Created) return true;
        if (resp.StatusCode == HttpStatusCode.Accepted && resp.Headers.Location is { } loc)
        {
            // The registry started an ordinary upload instead; give it back so it doesn't linger.
            using var _ = await SendOnceAsync(() => new HttpRequestMessage(HttpMethod.Delete, Resolve(loc)), ct).ConfigureAwait(false);
            return false;
        }
        return false;
    }

    Uri Resolve(Uri location) => location.IsAbsoluteUri ? location : new Uri(BaseUri, location);

    static Uri WithDigest(Uri location, string digest)
    {
        var b = new UriBuilder(location);
        b.Query = (b.Query.Length > 1 ? b.Query[1..] + "&" : "") + "digest=" + Uri.EscapeDataString(digest);
        return b.Uri;
    }

    /// <summary>
    /// Uploads a blob whose digest is known: one monolithic PUT for small blobs, PATCH chunks then a
    /// closing PUT for big ones. <paramref name="open"/> is called again if the upload must restart.
    /// </summary>
    public async Task UploadAsync(Func<Stream> open, long size, string digest, long chunkSize, Action<long>? progress, CancellationToken ct)
    {
        using var start = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, Url(RepoUrl("blobs/uploads/"))), ct).ConfigureAwait(false);
        await EnsureSuccessAsync(start, "starting an upload", ct).ConfigureAwait(false);
        var location = Resolve(start.Headers.Location ?? throw new RegistryException(RegistryErrorKind.Invalid, "the registry started an upload without a Location"));
        await using var source = open();
        if (size <= chunkSize)
        {
            using var put = await SendOnceAsync(() => new HttpRequestMessage(HttpMethod.Put, WithDigest(location, digest))
            {
                Content = Body(source, size, progress, 0),
            }, ct).ConfigureAwait(false);
            await EnsureSuccessAsync(put, $"uploading blob {digest}", ct).ConfigureAwait(false);
            return;
        }
        long sent = 0;
        while (sent < size)
        {
            long n = Math.Min(chunkSize, size - sent);
            var content = Body(new BoundedStream(source, n), n, progress, sent);
            using var patch = await SendOnceAsync(() =>
            {
                var req = new HttpRequestMessage(HttpMethod.Patch, location) { Content = content };
                // Distribution wants "start-end" here, not HTTP's "bytes start-end/total".
                req.Content.Headers.TryAddWithoutValidation("Content-Range", $"{sent}-{sent + n - 1}");
                return req;
            }, ct).ConfigureAwait(false);
            await EnsureSuccessAsync(patch, $"uploading blob {digest}", ct).ConfigureAwait(false);
            location = Resolve(patch.Headers.Location ?? location);
            sent += n;
        }
        using var close = await SendOnceAsync(() => new HttpRequestMessage(HttpMethod.Put, WithDigest(location, digest)), ct).ConfigureAwait(false);
        await EnsureSuccessAsync(close, $"completing the upload of {digest}", ct).ConfigureAwait(false);
    }

    static HttpContent Body(Stream source, long length, Action<long>? progress, long offset)
    {
        var content = new StreamContent(progress is null ? source : new ProgressStream(source, n => progress(offset + n)), 1 << 16);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = length;
        return content;
    }

    public async Task<string> PutManifestAsync(string reference, string mediaType, byte[] bytes, CancellationToken ct)
    {
        using var resp = await SendAsync(() =>
        {
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return new HttpRequestMessage(HttpMethod.Put, Url(RepoUrl("manifests/" + reference))) { Content = content };
        }, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(resp, $"pushing the manifest {reference}", ct).ConfigureAwait(false);
        return Digest(bytes);
    }
}
