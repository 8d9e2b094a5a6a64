using System.Net.Sockets;
using System.Text.Json;
using Berth.Shim.Client;

namespace Berth.Shim;

/// <summary>
/// Serves the shim protocol (see <see cref="ShimRequest"/>) on the shim's unix socket: one request line per
/// connection, one reply line, and for attach a stream that lives until the container's output is done.
/// Bad input gets an error reply and the connection is closed; nothing a client sends can crash the shim.
/// </summary>
public sealed class ShimServer(IContainerTask container, OutputHub output, Action<string> log)
{
    readonly TaskCompletionSource<ExitInfo> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Lock _gate = new();
    readonly HashSet<Task> _connections = [];
    readonly Lock _stdinGate = new();
    Socket? _listener;
    volatile string _status = ShimStatus.Created;

    public static Socket Listen(string socketPath)
    {
        // A socket file left by a dead shim would make bind fail; the daemon owns the path, so reuse it.
        if (File.Exists(socketPath)) File.Delete(socketPath);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(64);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>Accepts connections until <see cref="StopAccepting"/>.</summary>
    public async Task ServeAsync(Socket listener)
    {
        _listener = listener;
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            var task = Task.Run(() => HandleAsync(client));
            lock (_gate) _connections.Add(task);
            _ = task.ContinueWith(t => { lock (_gate) _connections.Remove(t); }, TaskScheduler.Default);
        }
    }

    public void StopAccepting() => _listener?.Dispose();

    /// <summary>Records the exit and answers every pending and future wait.</summary>
    public void Exited(ExitInfo info)
    {
        _status = ShimStatus.Exited;
        _exit.TrySetResult(info);
    }

    /// <summary>Waits (bounded) for open connections, so waits and attach streams get their last bytes out.</summary>
    public async Task FinishConnectionsAsync(TimeSpan timeout)
    {
        Task[] open;
        lock (_gate) open = [.. _connections];
        await Task.WhenAny(Task.WhenAll(open), Task.Delay(timeout)).ConfigureAwait(false);
    }

    async Task HandleAsync(Socket client)
    {
        using var stream = new NetworkStream(client, ownsSocket: true);
        try
        {
            ShimRequest request;
            try
            {
                var line = await ShimWire.ReadLineAsync(stream).ConfigureAwait(false);
                if (line is null) return;
                request = JsonSerializer.Deserialize(line, ShimJsonContext.Default.ShimRequest)
                    ?? throw new InvalidDataException("request is null");
            }
            catch (Exception e) when (e is JsonException or InvalidDataException)
            {
                await ReplyAsync(stream, ShimReply.Failure($"bad request: {e.Message}")).ConfigureAwait(false);
                return;
            }
            await DispatchAsync(request, stream, client).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // The client went away; nothing to answer.
        }
        catch (Exception e)
        {
            log($"connection failed: {e}");
        }
    }

    async Task DispatchAsync(ShimRequest request, NetworkStream stream, Socket client)
    {
        switch (request.Op)
        {
            case ShimOps.Start:
                await ReplyAsync(stream, Run(() =>
                {
                    if (_status != ShimStatus.Created) throw new InvalidOperationException($"container is {_status}, not created");
                    container.Start();
                    _status = ShimStatus.Running;
                })).ConfigureAwait(false);
                break;
            case ShimOps.Kill:
                await ReplyAsync(stream, Run(() =>
                {
                    if (request.Signal is <= 0 or > 64) throw new ArgumentException($"invalid signal {request.Signal}");
                    if (_status != ShimStatus.Exited) container.Signal(request.Signal);
                })).ConfigureAwait(false);
                break;
            case ShimOps.Resize:
                await ReplyAsync(stream, Run(() =>
                {
                    if (request.Height is <= 0 or > ushort.MaxValue || request.Width is <= 0 or > ushort.MaxValue)
                        throw new ArgumentException($"invalid terminal size {request.Height}x{request.Width}");
                    container.Resize(request.Height, request.Width);
                })).ConfigureAwait(false);
                break;
            case ShimOps.State:
                var exit = _exit.Task.IsCompleted ? _exit.Task.Result : null;
                await stream.WriteAsync(ShimWire.Encode(new ShimState
                {
                    Pid = container.Pid, Status = _status, ExitCode = exit?.ExitCode,
                }, ShimJsonContext.Default.ShimState)).ConfigureAwait(false);
                break;
            case ShimOps.Wait:
                var info = await _exit.Task.ConfigureAwait(false);
                await stream.WriteAsync(ShimWire.Encode(info, ShimJsonContext.Default.ExitInfo)).ConfigureAwait(false);
                break;
            case ShimOps.Attach:
                await AttachAsync(request, stream, client).ConfigureAwait(false);
                break;
            default:
                await ReplyAsync(stream, ShimReply.Failure($"unknown op \"{request.Op}\"")).ConfigureAwait(false);
                break;
        }
    }

    static ShimReply Run(Action action)
    {
        try
        {
            action();
            return ShimReply.Success;
        }
        catch (Exception e)
        {
            return ShimReply.Failure(e.Message);
        }
    }

    async Task AttachAsync(ShimRequest request, NetworkStream stream, Socket client)
    {
        // Subscribe before replying so no output produced after the client saw "ok" can be missed.
        var subscription = output.Subscribe(request.Stdout, request.Stderr);
        try
        {
            await ReplyAsync(stream, ShimReply.Success).ConfigureAwait(false);
            _ = CopyInputAsync(stream, request, subscription);
            await foreach (var chunk in subscription.Reader.ReadAllAsync().ConfigureAwait(false))
                await stream.WriteAsync(chunk).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Both);
        }
        finally
        {
            output.Unsubscribe(subscription);
        }
    }

    /// <summary>
    /// Feeds the client's bytes to the container's stdin. A half-close means stdin ended (Docker's
    /// StdinOnce); a dropped connection is not, since another client may still be writing.
    /// </summary>
    async Task CopyInputAsync(NetworkStream stream, ShimRequest request, OutputHub.Subscription subscription)
    {
        var buffer = new byte[32 * 1024];
        bool forward = request.Stdin;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                if (forward) forward = WriteStdin(buffer.AsSpan(0, n));
            if (request.Stdin && request.CloseStdinOnEof) lock (_stdinGate) container.CloseStdin();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // Reading failed, so the client is gone: stop queueing output for it.
            output.Unsubscribe(subscription);
        }
    }

    /// <summary>False once stdin is gone (closed, or the container no longer reads it); later input is dropped.</summary>
    bool WriteStdin(ReadOnlySpan<byte> data)
    {
        try
        {
            lock (_stdinGate)
            {
                if (container.Stdin is not { } stdin) return false;
                stdin.Write(data);
                return true;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            return false;
        }
    }

    static async Task ReplyAsync(Stream stream, ShimReply reply) =>
        await stream.WriteAsync(ShimWire.Encode(reply, ShimJsonContext.Default.ShimReply)).ConfigureAwait(false);
}
