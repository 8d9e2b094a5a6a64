using System.Text;
using Berth.Shim.Client;

namespace Berth.Shim.Tests;

public sealed class JsonFileLogTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("berth-shim-log-").FullName;
    string LogPath => Path.Combine(_dir, "container.log");
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static async Task<List<LogEntry>> ReadAll(string path, LogReadOptions options, CancellationToken ct = default)
    {
        var entries = new List<LogEntry>();
        await foreach (var e in JsonFileLogReader.ReadAsync(path, options, ct)) entries.Add(e);
        return entries;
    }

    [Fact]
    public void Writer_produces_docker_json_file_lines()
    {
        using (var writer = new JsonFileLogWriter(LogPath))
            writer.Write(StdStream.Stdout, "hello\n"u8, new DateTime(2024, 5, 1, 10, 0, 0, DateTimeKind.Utc).AddTicks(1234567));
        Assert.Equal("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.123456700Z\"}\n", File.ReadAllText(LogPath));
    }

    [Fact]
    public async Task Writer_splits_chunk_at_newlines_and_keeps_partial_line()
    {
        using (var writer = new JsonFileLogWriter(LogPath))
        {
            writer.Write(StdStream.Stderr, "a\nb\npart"u8);
            writer.Write(StdStream.Stderr, "ial\n"u8);
        }
        var entries = await ReadAll(LogPath, new LogReadOptions(), Ct);
        Assert.Equal(["a\n", "b\n", "part", "ial\n"], entries.Select(e => e.Log));
        Assert.All(entries, e => Assert.Equal("stderr", e.Stream));
    }

    [Fact]
    public async Task Reader_filters_streams()
    {
        using (var writer = new JsonFileLogWriter(LogPath))
        {
            writer.Write(StdStream.Stdout, "out\n"u8);
            writer.Write(StdStream.Stderr, "err\n"u8);
        }
        Assert.Equal(["err\n"], (await ReadAll(LogPath, new LogReadOptions { Stdout = false }, Ct)).Select(e => e.Log));
        Assert.Equal(["out\n"], (await ReadAll(LogPath, new LogReadOptions { Stderr = false }, Ct)).Select(e => e.Log));
    }

    [Fact]
    public async Task Reader_tail_returns_last_entries_and_zero_returns_none()
    {
        using (var writer = new JsonFileLogWriter(LogPath))
            writer.Write(StdStream.Stdout, "1\n2\n3\n4\n"u8);
        Assert.Equal(["3\n", "4\n"], (await ReadAll(LogPath, new LogReadOptions { Tail = 2 }, Ct)).Select(e => e.Log));
        Assert.Empty(await ReadAll(LogPath, new LogReadOptions { Tail = 0 }, Ct));
    }

    [Fact]
    public async Task Reader_since_and_until_bound_entries_by_time()
    {
        var t0 = new DateTime(2024, 5, 1, 10, 0, 0, DateTimeKind.Utc);
        using (var writer = new JsonFileLogWriter(LogPath))
            for (int i = 0; i < 5; i++) writer.Write(StdStream.Stdout, Encoding.UTF8.GetBytes($"{i}\n"), t0.AddSeconds(i));
        var entries = await ReadAll(LogPath, new LogReadOptions { Since = t0.AddSeconds(1), Until = t0.AddSeconds(3) }, Ct);
        Assert.Equal(["1\n", "2\n", "3\n"], entries.Select(e => e.Log));
    }

    [Fact]
    public async Task Reader_keeps_nine_fraction_digits_when_parsing_times()
    {
        File.WriteAllText(LogPath, "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.123456789Z\"}\n");
        var entry = Assert.Single(await ReadAll(LogPath, new LogReadOptions(), Ct));
        Assert.Equal(new DateTime(2024, 5, 1, 10, 0, 0, DateTimeKind.Utc).AddTicks(1234567), entry.Time);
    }

    [Fact]
    public async Task Reader_skips_malformed_lines()
    {
        File.WriteAllText(LogPath, "garbage\n{\"log\":\"ok\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.000000000Z\"}\n");
        Assert.Equal(["ok\n"], (await ReadAll(LogPath, new LogReadOptions(), Ct)).Select(e => e.Log));
    }

    [Fact]
    public async Task Follow_sees_new_entries_and_ends_after_exit_once_file_is_read()
    {
        using var writer = new JsonFileLogWriter(LogPath);
        writer.Write(StdStream.Stdout, "before\n"u8);
        var exited = new TaskCompletionSource();
        var seen = new List<string>();
        var reading = Task.Run(async () =>
        {
            await foreach (var e in JsonFileLogReader.ReadAsync(LogPath,
                new LogReadOptions { Follow = true, ContainerExited = exited.Task, PollInterval = TimeSpan.FromMilliseconds(20) }, Ct))
                lock (seen) seen.Add(e.Log);
        }, Ct);
        await WaitUntil(() => { lock (seen) return seen.Count == 1; });
        writer.Write(StdStream.Stdout, "after\n"u8);
        await WaitUntil(() => { lock (seen) return seen.Count == 2; });
        writer.Write(StdStream.Stdout, "last\n"u8);
        exited.SetResult();
        await reading.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(["before\n", "after\n", "last\n"], seen);
    }

    [Fact]
    public async Task Follow_does_not_parse_an_unfinished_line()
    {
        File.WriteAllText(LogPath, "{\"log\":\"a\\n\",\"stream\":\"stdout\",");
        var exited = new TaskCompletionSource();
        var reading = ReadAll(LogPath, new LogReadOptions { Follow = true, ContainerExited = exited.Task, PollInterval = TimeSpan.FromMilliseconds(20) }, Ct);
        await Task.Delay(100, Ct);
        File.AppendAllText(LogPath, "\"time\":\"2024-05-01T10:00:00.000000000Z\"}\n");
        await Task.Delay(100, Ct);
        exited.SetResult();
        var entries = await reading.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(["a\n"], entries.Select(e => e.Log));
    }

    [Fact]
    public async Task Follow_ends_quietly_when_cancelled()
    {
        using (var writer = new JsonFileLogWriter(LogPath)) writer.Write(StdStream.Stdout, "x\n"u8);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var entries = await ReadAll(LogPath, new LogReadOptions { Follow = true, PollInterval = TimeSpan.FromMilliseconds(20) }, cts.Token)
            .WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(["x\n"], entries.Select(e => e.Log));
    }

    [Fact]
    public async Task Follow_with_tail_zero_skips_history_but_streams_new_entries()
    {
        using var writer = new JsonFileLogWriter(LogPath);
        writer.Write(StdStream.Stdout, "old\n"u8);
        var exited = new TaskCompletionSource();
        var reading = ReadAll(LogPath, new LogReadOptions { Follow = true, Tail = 0, ContainerExited = exited.Task, PollInterval = TimeSpan.FromMilliseconds(20) }, Ct);
        await Task.Delay(100, Ct);
        writer.Write(StdStream.Stdout, "new\n"u8);
        exited.SetResult();
        Assert.Equal(["new\n"], (await reading.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Select(e => e.Log));
    }

    static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(10, Ct);
        }
    }
}
