using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Berth.Daemon.Engine;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Berth.Daemon.Server;

/// <summary>A job's output as an HTTP response on Kestrel.</summary>
sealed class HttpJobOutput(HttpContext ctx) : IJobOutput
{
    public bool Started => ctx.Response.HasStarted || _hijacked;
    bool _hijacked;

    public async Task JsonAsync<T>(int status, T value, JsonTypeInfo<T> type)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, type);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = bytes.Length + 1;
        await ctx.Response.Body.WriteAsync(bytes);
        await ctx.Response.Body.WriteAsync("\n"u8.ToArray());
    }

    public Task EmptyAsync(int status)
    {
        ctx.Response.StatusCode = status;
        if (status != 204 && status != 304) ctx.Response.ContentLength = 0;
        return Task.CompletedTask;
    }

    public async Task TextAsync(int status, string text, string contentType)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        ctx.Response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(ctx.Request.Method)) await ctx.Response.Body.WriteAsync(bytes);
    }

    public async Task<Stream> StreamAsync(string contentType)
    {
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = contentType;
        await ctx.Response.StartAsync();
        await ctx.Response.Body.FlushAsync();
        return ctx.Response.Body;
    }

    public async Task<Stream> HijackAsync(string contentType)
    {
        var upgrade = ctx.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true })
        {
            ctx.Response.Headers.ContentType = contentType;
            ctx.Response.Headers.Connection = "Upgrade";
            ctx.Response.Headers.Upgrade = "tcp";
            _hijacked = true;
            return await upgrade.UpgradeAsync();
        }
        // No upgrade asked for: answer 200 and stream the output; input comes from the request body.
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = contentType;
        await ctx.Response.StartAsync();
        await ctx.Response.Body.FlushAsync();
        return new DuplexStream(ctx.Request.Body, ctx.Response.Body);
    }
}

/// <summary>Reads from one stream and writes to another: a request/response pair seen as one connection.</summary>
sealed class DuplexStream(Stream input, Stream output) : Stream
{
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => input.ReadAsync(buffer, ct);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => input.ReadAsync(buffer, offset, count, ct);
    public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => output.WriteAsync(buffer, ct);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => output.WriteAsync(buffer, offset, count, ct);
    public override void Flush() => output.Flush();
    public override Task FlushAsync(CancellationToken ct) => output.FlushAsync(ct);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
