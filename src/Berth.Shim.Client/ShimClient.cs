using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Berth.Shim.Client;

/// <summary>
/// berthd's side of the shim socket. Each call opens its own connection, so calls may run concurrently
/// (an attach stream and a wait stay open while start, kill and resize go through).
/// </summary>
public sealed class ShimClient(string socketPath)
{
    public string SocketPath { get; } = socketPath;

    public async Task StartAsync(CancellationToken ct = default) =>
        await CallAsync(new ShimRequest { Op = ShimOps.Start }, ct).ConfigureAwait(false);

    public async Task KillAsync(int signal, CancellationToken ct = default) =>
        await CallAsync(new ShimRequest { Op = ShimOps.Kill, Signal = signal }, ct).ConfigureAwait(false);

    public async Task ResizeAsync(int height, int width, CancellationToken ct = default) =>
        await CallAsync(new ShimRequest { Op = ShimOps.Resize, Height = height, Width = width }, ct).ConfigureAwait(false);

    public async Task<ShimState> StateAsync(CancellationToken ct = default)
    {
        using var stream = await SendAsync(new ShimRequest { Op = ShimOps.State }, ct).ConfigureAwait(false);
        return await ReadReplyAsync(stream, ShimJsonContext.Default.ShimState, ct).ConfigureAwait(false);
    }

    /// <summary>Blocks until the container exits. Cancelling drops the connection; the container is unaffected.</summary>
    public async Task<ExitInfo> WaitAsync(CancellationToken ct = default)
    {
        using var stream = await SendAsync(new ShimRequest { Op = ShimOps.Wait }, ct).ConfigureAwait(false);
        return await ReadReplyAsync(stream, ShimJsonContext.Default.ExitInfo, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens an attach stream: reads give container output (multiplexed frames for a non-tty container,
    /// raw bytes for a tty), writes go to its stdin, <see cref="ShimAttachStream.CloseWrite"/> signals
    /// stdin EOF. The shim ends the stream once the container has exited and its output is delivered.
    /// </summary>
    public async Task<ShimAttachStream> AttachAsync(bool stdin, bool stdout, bool stderr, bool closeStdinOnEof,
        CancellationToken ct = default)
    {
        var stream = await SendAsync(new ShimRequest
        {
            Op = ShimOps.Attach, Stdin = stdin, Stdout = stdout, Stderr = stderr, CloseStdinOnEof = closeStdinOnEof,
        }, ct).ConfigureAwait(false);
        try
        {
            Check(await ReadReplyAsync(stream, ShimJsonContext.Default.ShimReply, ct).ConfigureAwait(false));
            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    async Task CallAsync(ShimRequest request, CancellationToken ct)
    {
        using var stream = await SendAsync(request, ct).ConfigureAwait(false);
        Check(await ReadReplyAsync(stream, ShimJsonContext.Default.ShimReply, ct).ConfigureAwait(false));
    }

    static void Check(ShimReply reply)
    {
        if (!reply.Ok) throw new ShimException(reply.Error ?? "shim reported failure without a message");
    }

    async Task<ShimAttachStream> SendAsync(ShimRequest request, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ShimUnavailableException(SocketPath, e);
        }
        var stream = new ShimAttachStream(socket);
        try
        {
            await stream.WriteAsync(ShimWire.Encode(request, ShimJsonContext.Default.ShimRequest), ct).ConfigureAwait(false);
            return stream;
        }
        catch (IOException e)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw new ShimUnavailableException(SocketPath, e);
        }
    }

    async Task<T> ReadReplyAsync<T>(Stream stream, JsonTypeInfo<T> type, CancellationToken ct)
    {
        byte[]? line;
        try
        {
            line = await ShimWire.ReadLineAsync(stream, ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new ShimUnavailableException(SocketPath, e);
        }
        if (line is null) throw new ShimUnavailableException(SocketPath, new EndOfStreamException("connection closed before a reply"));
        // Any reply may be a failure, including where a state or exit record was expected.
        if (TryParseFailure(line) is { } failure) throw new ShimException(failure);
        try
        {
            if (JsonSerializer.Deserialize(line, type) is { } reply) return reply;
        }
        catch (JsonException) { }
        throw new ShimException($"malformed reply from shim: {System.Text.Encoding.UTF8.GetString(line)}");
    }

    static string? TryParseFailure(byte[] line)
    {
        try
        {
            var reply = JsonSerializer.Deserialize(line, ShimJsonContext.Default.ShimReply);
            return reply is { Ok: false, Error: { } error } ? error : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A connection to the shim that can half-close: <see cref="CloseWrite"/> tells the shim stdin ended.</summary>
public sealed class ShimAttachStream(Socket socket) : NetworkStream(socket, ownsSocket: true)
{
    public void CloseWrite() => Socket.Shutdown(SocketShutdown.Send);
}
