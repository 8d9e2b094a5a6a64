using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Shim.Client;

// Docker's json-file log driver format: one JSON object per line,
// {"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}.
// The shim writes it; the daemon reads it for `docker logs`.

public sealed class LogEntry
{
    public string Log { get; set; } = "";
    /// <summary>"stdout" or "stderr".</summary>
    public string Stream { get; set; } = "";
    [JsonConverter(typeof(Rfc3339NanoConverter))]
    public DateTime Time { get; set; }

    public const string StdoutName = "stdout", StderrName = "stderr";
}

/// <summary>
/// Appends container output to a json-file log. A chunk is split after each newline; a trailing partial
/// line becomes an entry of its own, as Docker does when a read returns less than a line.
/// </summary>
public sealed class JsonFileLogWriter : IDisposable
{
    readonly FileStream _file;
    readonly Lock _gate = new();

    public JsonFileLogWriter(string path)
    {
        // Unbuffered so every entry is visible to a following reader as soon as Write returns.
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
    }

    public void Write(StdStream stream, ReadOnlySpan<byte> chunk, DateTime? time = null)
    {
        if (chunk.IsEmpty) return;
        var entry = new LogEntry
        {
            Stream = stream == StdStream.Stderr ? LogEntry.StderrName : LogEntry.StdoutName,
            Time = time ?? DateTime.UtcNow,
        };
        var output = new MemoryStream();
        while (!chunk.IsEmpty)
        {
            int newline = chunk.IndexOf((byte)'\n');
            var line = newline < 0 ? chunk : chunk[..(newline + 1)];
            chunk = chunk[line.Length..];
            entry.Log = Encoding.UTF8.GetString(line);
            JsonSerializer.Serialize(output, entry, ShimJsonContext.Default.LogEntry);
            output.WriteByte((byte)'\n');
        }
        lock (_gate) _file.Write(output.GetBuffer(), 0, (int)output.Length);
    }

    public void Dispose() => _file.Dispose();
}

public sealed class LogReadOptions
{
    public bool Stdout { get; init; } = true;
    public bool Stderr { get; init; } = true;
    /// <summary>Only entries at or after this time.</summary>
    public DateTime? Since { get; init; }
    /// <summary>Only entries at or before this time; following stops at the first later entry.</summary>
    public DateTime? Until { get; init; }
    /// <summary>Only the last N matching entries already in the file; null means all.</summary>
    public int? Tail { get; init; }
    /// <summary>Keep reading as the file grows.</summary>
    public bool Follow { get; init; }
    /// <summary>
    /// With <see cref="Follow"/>: completes when the container has exited. Following then ends once the file
    /// has been read to its end. Without it, following ends only by cancellation.
    /// </summary>
    public Task? ContainerExited { get; init; }
    /// <summary>How often a follower looks for new data.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>Reads a json-file log with Docker's filters (streams, since, until, tail) and optional follow.</summary>
public static class JsonFileLogReader
{
    /// <summary>
    /// Yields matching entries in file order. Cancelling <paramref name="ct"/> ends the sequence quietly
    /// (the usual cause is a client that went away). Lines that aren't valid entries are skipped.
    /// </summary>
    public static async IAsyncEnumerable<LogEntry> ReadAsync(string path, LogReadOptions options,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        FileStream? file = null;
        try
        {
            file = await OpenAsync(path, options, ct).ConfigureAwait(false);
            if (file is null) yield break;

            var lines = new LineReader(file);
            // History: everything already in the file, cut to the tail.
            var history = new Queue<LogEntry>();
            bool pastUntil = false;
            while (lines.TryReadLine(out var line))
            {
                var entry = Parse(line);
                if (entry is null || !Matches(entry, options)) continue;
                if (options.Until is { } until && entry.Time > until) { pastUntil = true; break; }
                history.Enqueue(entry);
                if (options.Tail is { } tail && history.Count > tail) history.Dequeue();
            }
            foreach (var entry in history) yield return entry;
            if (!options.Follow || pastUntil) yield break;

            while (!ct.IsCancellationRequested)
            {
                // Checked before reading, so the final read below still sees everything written before exit.
                bool exited = options.ContainerExited?.IsCompleted == true;
                while (lines.TryReadLine(out var line))
                {
                    var entry = Parse(line);
                    if (entry is null || !Matches(entry, options)) continue;
                    if (options.Until is { } until && entry.Time > until) yield break;
                    yield return entry;
                }
                if (exited) yield break;
                if (!await DelayAsync(options, ct).ConfigureAwait(false)) yield break;
            }
        }
        finally
        {
            file?.Dispose();
        }
    }

    static async Task<FileStream?> OpenAsync(string path, LogReadOptions options, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            }
            catch (FileNotFoundException) when (options.Follow && options.ContainerExited?.IsCompleted != true)
            {
                if (!await DelayAsync(options, ct).ConfigureAwait(false)) return null;
            }
            catch (FileNotFoundException)
            {
                return null;
            }
        }
    }

    /// <summary>Waits one poll interval, or less if the container exits; false when cancelled.</summary>
    static async Task<bool> DelayAsync(LogReadOptions options, CancellationToken ct)
    {
        var delay = Task.Delay(options.PollInterval, ct);
        var done = options.ContainerExited is null ? delay : await Task.WhenAny(delay, options.ContainerExited).ConfigureAwait(false);
        await done.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return !ct.IsCancellationRequested;
    }

    static bool Matches(LogEntry entry, LogReadOptions options) =>
        (entry.Stream == LogEntry.StderrName ? options.Stderr : options.Stdout)
        && (options.Since is not { } since || entry.Time >= since);

    static LogEntry? Parse(ReadOnlySpan<byte> line)
    {
        try
        {
            return JsonSerializer.Deserialize(line, ShimJsonContext.Default.LogEntry);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Splits a growing file into complete lines. A line without its newline yet stays buffered until
    /// the writer finishes it, so a follower never parses half an entry.
    /// </summary>
    sealed class LineReader(FileStream file)
    {
        byte[] _buffer = new byte[64 * 1024];
        int _start, _end;

        public bool TryReadLine(out ReadOnlySpan<byte> line)
        {
            while (true)
            {
                int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    line = _buffer.AsSpan(_start, newline);
                    _start += newline + 1;
                    return true;
                }
                if (!Fill())
                {
                    line = default;
                    return false;
                }
            }
        }

        bool Fill()
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
            int n = file.Read(_buffer, _end, _buffer.Length - _end);
            _end += n;
            return n > 0;
        }
    }
}
