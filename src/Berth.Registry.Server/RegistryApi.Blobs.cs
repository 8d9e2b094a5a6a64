using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Berth.Registry.Server;

/// <summary>Blob reads with Range, and uploads: monolithic, POST+PUT, chunked PATCH, cross-repository mount.</summary>
public sealed partial class RegistryApi
{
    /// <summary>
    /// In-memory progress of an upload: a lock so chunks apply in order, and a running SHA-256
    /// of what is on disk so completing a large upload need not read it back. After a restart the
    /// hash is gone and completion re-reads the file instead; the file alone is the state.
    /// </summary>
    sealed class UploadState
    {
        public readonly SemaphoreSlim Lock = new(1, 1);
        public IncrementalHash? Hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public long Hashed;
    }

    readonly ConcurrentDictionary<string, UploadState> _uploads = new(StringComparer.Ordinal);

    async Task GetBlobAsync(HttpContext ctx, string name, Digest digest)
    {
        if (!storage.IsLayerLinked(name, digest) || storage.BlobSize(digest) is not long size)
            throw new RegistryException(ErrorCode.BlobUnknown, digest.ToString());
        var res = ctx.Response;
        res.Headers["Docker-Content-Digest"] = digest.ToString();
        res.Headers.AcceptRanges = "bytes";
        res.Headers.ETag = $"\"{digest}\"";
        res.Headers.CacheControl = "max-age=31536000";
        res.ContentType = "application/octet-stream";
        long offset = 0, count = size;
        if (ctx.Request.Headers.Range.ToString() is { Length: > 0 } range)
        {
            if (!TryParseByteRange(range, size, out offset, out count))
            {
                res.Headers.ContentRange = $"bytes */{size}";
                throw new RegistryException(ErrorCode.BlobUnknown, $"range {range} not satisfiable for {size} bytes", "requested range not satisfiable", HttpStatusCode.RequestedRangeNotSatisfiable);
            }
            res.StatusCode = 206;
            res.Headers.ContentRange = $"bytes {offset}-{offset + count - 1}/{size}";
        }
        else res.StatusCode = 200;
        res.ContentLength = count;
        if (ctx.Request.Method != "HEAD") await res.SendFileAsync(storage.BlobPath(digest), offset, count, ctx.RequestAborted);
    }

    /// <summary>One RFC 9110 byte range ("bytes=a-b", "bytes=a-", "bytes=-n"), clamped to the blob.</summary>
    internal static bool TryParseByteRange(string header, long size, out long offset, out long count)
    {
        offset = count = 0;
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) || header.Contains(',')) return false;
        var spec = header[6..].Trim();
        int dash = spec.IndexOf('-');
        if (dash < 0) return false;
        var a = spec[..dash];
        var b = spec[(dash + 1)..];
        if (a.Length == 0)
        {
            if (!long.TryParse(b, out var suffix) || suffix <= 0 || size == 0) return false;
            count = Math.Min(suffix, size);
            offset = size - count;
            return true;
        }
        if (!long.TryParse(a, out offset) || offset < 0 || offset >= size) return false;
        long end = size - 1;
        if (b.Length > 0 && (!long.TryParse(b, out end) || end < offset)) return false;
        count = Math.Min(end, size - 1) - offset + 1;
        return true;
    }

    Task DeleteBlob(HttpContext ctx, string name, Digest digest)
    {
        CheckWritable();
        if (!storage.UnlinkLayer(name, digest)) throw new RegistryException(ErrorCode.BlobUnknown, digest.ToString());
        ctx.Response.StatusCode = 202;
        ctx.Response.ContentLength = 0;
        return Task.CompletedTask;
    }

    async Task StartUploadAsync(HttpContext ctx, string name)
    {
        CheckWritable();
        var q = ctx.Request.Query;
        if (q["mount"].ToString() is { Length: > 0 } mount)
        {
            var d = Digest.Parse(mount);
            var from = q["from"].ToString();
            // A mount that cannot be served falls back to an ordinary upload, as the spec allows.
            if (References.IsValidName(from) && storage.IsLayerLinked(from, d) && storage.TouchBlob(d))
            {
                storage.LinkLayer(name, d);
                BlobCreated(ctx, name, d);
                return;
            }
        }
        var uuid = storage.CreateUpload(name);
        _uploads[uuid] = new UploadState();
        if (q["digest"].ToString() is { Length: > 0 } digest)
        {
            var d = Digest.Parse(digest);
            await AppendAsync(ctx, uuid, checkRange: false);
            await FinishAsync(ctx, name, uuid, d);
            return;
        }
        UploadAccepted(ctx, name, uuid, 0, HttpStatusCode.Accepted);
    }

    Task UploadStatusAsync(HttpContext ctx, string name, string uuid)
    {
        CheckUpload(name, uuid);
        UploadAccepted(ctx, name, uuid, new FileInfo(storage.UploadData(uuid)).Length, HttpStatusCode.NoContent);
        return Task.CompletedTask;
    }

    async Task PatchUploadAsync(HttpContext ctx, string name, string uuid)
    {
        CheckWritable();
        CheckUpload(name, uuid);
        var size = await AppendAsync(ctx, uuid, checkRange: true);
        UploadAccepted(ctx, name, uuid, size, HttpStatusCode.Accepted);
    }

    async Task CompleteUploadAsync(HttpContext ctx, string name, string uuid)
    {
        CheckWritable();
        CheckUpload(name, uuid);
        var digest = ctx.Request.Query["digest"].ToString() is { Length: > 0 } s ? Digest.Parse(s)
            : throw new RegistryException(ErrorCode.DigestInvalid, "the digest query parameter is required");
        await AppendAsync(ctx, uuid, checkRange: true);
        await FinishAsync(ctx, name, uuid, digest);
    }

    Task CancelUploadAsync(HttpContext ctx, string name, string uuid)
    {
        CheckUpload(name, uuid);
        storage.DeleteUpload(uuid);
        _uploads.TryRemove(uuid, out _);
        ctx.Response.StatusCode = 204;
        return Task.CompletedTask;
    }

    void CheckUpload(string name, string uuid)
    {
        if (!storage.UploadExists(name, uuid)) throw new RegistryException(ErrorCode.BlobUploadUnknown, uuid);
    }

    /// <summary>
    /// Appends the request body to an upload. With <paramref name="checkRange"/>, a Content-Range
    /// must start where the upload ends (else 416 with the current Range) and match the body's
    /// length. Returns the upload's new size.
    /// </summary>
    async Task<long> AppendAsync(HttpContext ctx, string uuid, bool checkRange)
    {
        var state = _uploads.GetOrAdd(uuid, _ => new UploadState { Hash = null });
        var path = storage.UploadData(uuid);
        await state.Lock.WaitAsync(ctx.RequestAborted);
        try
        {
            long start = new FileInfo(path).Length;
            long? expected = ctx.Request.ContentLength;
            if (checkRange && ctx.Request.Headers.ContentRange.ToString() is { Length: > 0 } cr)
            {
                if (!TryParseContentRange(cr, out var from, out var to))
                    throw new RegistryException(ErrorCode.BlobUploadInvalid, $"malformed Content-Range {cr}");
                if (from != start)
                {
                    ctx.Response.Headers["Range"] = RangeHeader(start);
                    ctx.Response.Headers["Docker-Upload-UUID"] = uuid;
                    throw new RegistryException(ErrorCode.BlobUploadInvalid, $"chunk starts at {from}, upload is at {start}", "out-of-order chunk", HttpStatusCode.RequestedRangeNotSatisfiable);
                }
                if (expected is long len && len != to - from + 1)
                    throw new RegistryException(ErrorCode.SizeInvalid, $"Content-Range covers {to - from + 1} bytes, Content-Length is {len}");
                expected = to - from + 1;
            }
            if (state.Hashed != start) { state.Hash?.Dispose(); state.Hash = null; }
            long written = 0;
            await using (var fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true))
            {
                var buf = new byte[1 << 16];
                int n;
                try
                {
                    while ((n = await ctx.Request.Body.ReadAsync(buf, ctx.RequestAborted)) > 0)
                    {
                        await fs.WriteAsync(buf.AsMemory(0, n), ctx.RequestAborted);
                        state.Hash?.AppendData(buf, 0, n);
                        written += n;
                    }
                }
                finally { state.Hashed = start + written; }
            }
            if (expected is long want && want != written)
            {
                // A short or long chunk is undone, so the client can resend it from the same offset.
                using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write)) fs.SetLength(start);
                state.Hash?.Dispose();
                state.Hash = null;
                throw new RegistryException(ErrorCode.SizeInvalid, $"expected {want} bytes, got {written}");
            }
            return start + written;
        }
        finally { state.Lock.Release(); }
    }

    /// <summary>fsyncs the upload, verifies it against the client's digest and renames it into the blob store.</summary>
    async Task FinishAsync(HttpContext ctx, string name, string uuid, Digest digest)
    {
        var path = storage.UploadData(uuid);
        var state = _uploads.GetOrAdd(uuid, _ => new UploadState { Hash = null });
        await state.Lock.WaitAsync(ctx.RequestAborted);
        try
        {
            bool ok;
            await using (var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1 << 16, useAsync: true))
            {
                fs.Flush(flushToDisk: true);
                if (digest.Algorithm == "sha256" && state.Hash is not null && state.Hashed == fs.Length)
                    ok = digest.Matches(state.Hash);
                else
                {
                    using var h = digest.NewHash();
                    var buf = new byte[1 << 16];
                    int n;
                    while ((n = await fs.ReadAsync(buf, ctx.RequestAborted)) > 0) h.AppendData(buf, 0, n);
                    ok = digest.Matches(h);
                }
            }
            if (!ok)
            {
                DropUpload(uuid);
                throw new RegistryException(ErrorCode.DigestInvalid, digest.ToString());
            }
            storage.CommitBlob(path, digest);
            storage.LinkLayer(name, digest);
            DropUpload(uuid);
        }
        finally { state.Lock.Release(); }
        BlobCreated(ctx, name, digest);
    }

    void DropUpload(string uuid)
    {
        storage.DeleteUpload(uuid);
        if (_uploads.TryRemove(uuid, out var s)) s.Hash?.Dispose();
    }

    static void BlobCreated(HttpContext ctx, string name, Digest digest)
    {
        var res = ctx.Response;
        res.StatusCode = 201;
        res.Headers.Location = $"/v2/{name}/blobs/{digest}";
        res.Headers["Docker-Content-Digest"] = digest.ToString();
        res.ContentLength = 0;
    }

    static void UploadAccepted(HttpContext ctx, string name, string uuid, long size, HttpStatusCode status)
    {
        var res = ctx.Response;
        res.StatusCode = (int)status;
        res.Headers.Location = $"/v2/{name}/blobs/uploads/{uuid}";
        res.Headers["Range"] = RangeHeader(size);
        res.Headers["Docker-Upload-UUID"] = uuid;
        res.ContentLength = 0;
    }

    /// <summary>The inclusive range received so far; distribution (and so every client) writes "0-0" for none.</summary>
    static string RangeHeader(long size) => $"0-{Math.Max(size - 1, 0)}";

    /// <summary>A chunk's Content-Range: "from-to", also accepted with a "bytes " or "bytes=" prefix some clients send.</summary>
    internal static bool TryParseContentRange(string value, out long from, out long to)
    {
        from = to = 0;
        var v = value.Trim();
        if (v.StartsWith("bytes", StringComparison.OrdinalIgnoreCase)) v = v[5..].TrimStart(' ', '=');
        int slash = v.IndexOf('/');
        if (slash >= 0) v = v[..slash];
        int dash = v.IndexOf('-');
        return dash > 0 && long.TryParse(v[..dash], out from) && long.TryParse(v[(dash + 1)..], out to) && from >= 0 && to >= from;
    }
}
