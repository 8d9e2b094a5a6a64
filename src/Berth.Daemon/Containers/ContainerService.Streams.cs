using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Shim.Client;

namespace Berth.Daemon.Containers;

// attach, logs and resize: the jobs that carry a container's stdio.
public sealed partial class ContainerService
{
    const string RawStream = "application/vnd.docker.raw-stream";
    const string MultiplexedStream = "application/vnd.docker.multiplexed-stream";

    public async Task AttachJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        var e = job.Env;
        bool stream = e.GetBool("stream"), logs = e.GetBool("logs");
        bool stdin = e.GetBool("stdin"), stdout = e.GetBool("stdout"), stderr = e.GetBool("stderr");
        if (!stdin && !stdout && !stderr) throw ApiException.BadRequest("at least one of stdin, stdout or stderr must be set");
        bool tty = c.Record.Config.Tty;

        // Register before answering, so a start that follows our 101 cannot miss us.
        PendingAttach? pending = null;
        if (stream && !c.IsRunning && c.State.Status == "created")
        {
            pending = new PendingAttach { Stdin = stdin && c.Record.Config.OpenStdin, Stdout = stdout, Stderr = stderr };
            lock (c.PendingAttaches) c.PendingAttaches.Add(pending);
        }
        // Published when the attach is taken, before the 101: a `run` client sends start only after
        // it, so the event stream shows attach before start, as with dockerd.
        if (stream) Publish(c, "attach");
        Stream client;
        try { client = await job.Stdout.HijackAsync(tty ? RawStream : MultiplexedStream); }
        catch
        {
            if (pending is not null) lock (c.PendingAttaches) c.PendingAttaches.Remove(pending);
            throw;
        }
        await using var _ = client;

        if (logs)
            await WriteLogsAsync(client, c, new LogReadOptions { Stdout = stdout, Stderr = stderr }, timestamps: false, job.Cancelled);
        if (!stream) return;

        // From here the hijacked connection is ours. A client that half-closes (docker does when it
        // has no stdin to send) still wants all the output, so nothing here watches for its FIN:
        // the stream ends when the container does, or when a write to the client fails.
        ShimAttachStream? shimStream = null;
        try
        {
            if (pending is not null)
                shimStream = await pending.Connected.Task;
            else if (c.Shim is { } shim && c.IsRunning)
                shimStream = await shim.AttachAsync(stdin && c.Record.Config.OpenStdin, stdout, stderr, c.Record.Config.StdinOnce);
        }
        catch (Exception) when (pending is not null)
        {
            lock (c.PendingAttaches) c.PendingAttaches.Remove(pending);
            return;
        }
        catch (ShimException)
        {
            return; // the container exited between our check and the attach
        }
        if (shimStream is null) return;
        await using (shimStream)
        {
            await PumpAsync(client, shimStream, stdin && c.Record.Config.OpenStdin, CancellationToken.None);
        }
    }

    /// <summary>
    /// Copies the container's output to the client until the shim ends it (the container exited and
    /// everything was delivered), and the client's input to the container until the client half-closes.
    /// </summary>
    static async Task PumpAsync(Stream client, ShimAttachStream shim, bool stdin, CancellationToken ct)
    {
        var output = CopyAsync(shim, client, flush: true, ct);
        if (stdin)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await CopyAsync(client, shim, flush: false, ct);
                    shim.CloseWrite();
                }
                catch (Exception) { }
            }, ct);
        }
        try { await output; }
        catch (Exception) { }
    }

    static async Task CopyAsync(Stream from, Stream to, bool flush, CancellationToken ct)
    {
        var buf = new byte[32 * 1024];
        int n;
        while ((n = await from.ReadAsync(buf, ct)) > 0)
        {
            await to.WriteAsync(buf.AsMemory(0, n), ct);
            if (flush) await to.FlushAsync(ct);
        }
    }

    public async Task LogsJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        var e = job.Env;
        bool stdout = e.GetBool("stdout"), stderr = e.GetBool("stderr");
        if (!stdout && !stderr) throw ApiException.BadRequest("you must choose at least one stream");
        if (c.Record.HostConfig.LogConfig.Type == "none")
            throw ApiException.NotImplemented("configured logging driver does not support reading");
        int? tail = null;
        var tailText = e.Get("tail");
        if (!string.IsNullOrEmpty(tailText) && tailText != "all")
            tail = int.TryParse(tailText, out var t) && t >= 0 ? t : throw ApiException.BadRequest($"invalid tail value: {tailText}");
        DateTimeOffset? since, until;
        try
        {
            since = Timestamps.ParseQueryTime(e.Get("since") is "0" ? null : e.Get("since"));
            until = Timestamps.ParseQueryTime(e.Get("until") is "0" ? null : e.Get("until"));
        }
        catch (FormatException f) { throw ApiException.BadRequest(f.Message); }
        bool follow = e.GetBool("follow") && c.IsRunning;
        var options = new LogReadOptions
        {
            Stdout = stdout,
            Stderr = stderr,
            Tail = tail,
            Since = since?.UtcDateTime,
            Until = until?.UtcDateTime,
            Follow = follow,
            ContainerExited = follow ? c.NextExit : null,
        };
        var body = await job.Stdout.StreamAsync(c.Record.Config.Tty ? RawStream : MultiplexedStream);
        await WriteLogsAsync(body, c, options, e.GetBool("timestamps"), job.Cancelled);
    }

    async Task WriteLogsAsync(Stream to, Container c, LogReadOptions options, bool timestamps, CancellationToken ct)
    {
        var path = FilesOf(c).LogPath;
        if (!File.Exists(path)) return;
        bool tty = c.Record.Config.Tty;
        var header = new byte[Api.StdStream.HeaderSize];
        try
        {
            await foreach (var entry in JsonFileLogReader.ReadAsync(path, options, ct))
            {
                var text = timestamps ? Timestamps.Rfc3339NanoFixed(new DateTimeOffset(DateTime.SpecifyKind(entry.Time, DateTimeKind.Utc))) + " " + entry.Log : entry.Log;
                var bytes = System.Text.Encoding.UTF8.GetBytes(text);
                if (!tty)
                {
                    Api.StdStream.WriteHeader(header, entry.Stream == LogEntry.StderrName ? Api.StdStream.Stderr : Api.StdStream.Stdout, bytes.Length);
                    await to.WriteAsync(header, ct);
                }
                await to.WriteAsync(bytes, ct);
                if (options.Follow) await to.FlushAsync(ct);
            }
            await to.FlushAsync(ct);
        }
        catch (OperationCanceledException) { }
        catch (IOException) { }
    }

    public async Task ResizeJobAsync(Job job)
    {
        var c = _store.Get(job.Arg(0));
        int h = job.Env.GetInt("h") ?? 0, w = job.Env.GetInt("w") ?? 0;
        if (h < 0 || w < 0 || h > ushort.MaxValue || w > ushort.MaxValue) throw ApiException.BadRequest($"invalid terminal size {h}x{w}");
        if (!c.IsRunning || c.Shim is null) throw ApiException.Conflict($"Container {c.Id} is not running");
        if (!c.Record.Config.Tty) throw ApiException.Conflict($"container {c.Id} has no terminal to resize");
        await c.Shim.ResizeAsync(h, w, job.Cancelled);
        await job.Stdout.EmptyAsync(200);
    }
}
