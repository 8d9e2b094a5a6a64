using System.Text.Json;
using System.Threading.Channels;
using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Registry;

namespace Berth.Daemon.Registry;

/// <summary>
/// Turns pull and push progress (reported from many download tasks at once) into Docker's JSON progress
/// stream, one message per line, flushed as written. The 200 goes out with the first message only, so a
/// failure before any progress (no such image, 401) still reaches the client as a proper status code.
/// </summary>
sealed class ProgressWriter
{
    readonly Job _job;
    readonly Channel<byte[]> _lines = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    readonly Task _pump;
    int _any;

    public ProgressWriter(Job job)
    {
        _job = job;
        _pump = PumpAsync();
    }

    /// <summary>Whether anything was reported: from then on errors must go in-stream.</summary>
    public bool Started => Volatile.Read(ref _any) != 0;

    public void Report(ProgressUpdate u)
    {
        var msg = new JsonMessage { Status = u.Status, Id = u.Id };
        if (u.Detail)
        {
            msg.ProgressDetail = u.Total > 0 ? new ProgressDetail { Current = u.Current, Total = u.Total } : new ProgressDetail();
            if (u.Total > 0) msg.Progress = ProgressBar.Render(u.Current, u.Total);
        }
        Write(JsonSerializer.SerializeToUtf8Bytes(msg, ApiJson.Default.JsonMessage));
    }

    /// <summary>A message the CLI hands to its aux callback instead of printing (push's tag, digest and size).</summary>
    public void Aux(Action<Utf8JsonWriter> writeAux)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("progressDetail");
            w.WriteEndObject();
            w.WritePropertyName("aux");
            writeAux(w);
            w.WriteEndObject();
        }
        Write(buffer.WrittenSpan.ToArray());
    }

    void Write(byte[] json)
    {
        Volatile.Write(ref _any, 1);
        _lines.Writer.TryWrite(json);
    }

    /// <summary>Ends the stream; a failure after progress started becomes Docker's in-stream error, before that it is thrown for a status code.</summary>
    public async Task CompleteAsync(Exception? error)
    {
        if (error is not null)
        {
            if (!Started)
            {
                _lines.Writer.TryComplete();
                await _pump.ConfigureAwait(false);
                throw error;
            }
            var message = error.Message;
            Write(JsonSerializer.SerializeToUtf8Bytes(new JsonMessage { Error = message, ErrorDetail = new ErrorDetail { Message = message } }, ApiJson.Default.JsonMessage));
        }
        _lines.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
    }

    async Task PumpAsync()
    {
        Stream? body = null;
        var newline = "\r\n"u8.ToArray();
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                body ??= await _job.Stdout.StreamAsync("application/json").ConfigureAwait(false);
                await body.WriteAsync(line).ConfigureAwait(false);
                await body.WriteAsync(newline).ConfigureAwait(false);
                // Flush only when the queue is drained: a burst of updates costs one flush, not one each.
                if (!_lines.Reader.TryPeek(out _)) await body.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
            // The client went away; the job sees it through its cancellation token.
        }
    }
}
