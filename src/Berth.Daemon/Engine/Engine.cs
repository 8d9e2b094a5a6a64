using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon.Engine;

public delegate Task JobHandler(Job job);

/// <summary>
/// The core of the daemon (the article's Engine): a table from job names to handlers, the jobs
/// now running, per-job metrics, and the shutdown hooks that clean up when the daemon exits.
/// </summary>
public sealed partial class Engine
{
    readonly Dictionary<string, JobHandler> _handlers = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<long, Job> _running = new();
    readonly ConcurrentDictionary<string, JobStats> _stats = new(StringComparer.Ordinal);
    readonly List<Func<Task>> _shutdown = new();
    readonly ILogger _log;

    public Engine(ILogger<Engine> log) => _log = log;

    public void Register(string name, JobHandler handler)
    {
        if (!_handlers.TryAdd(name, handler)) throw new InvalidOperationException($"job {name} registered twice");
    }

    public bool Has(string name) => _handlers.ContainsKey(name);

    public IReadOnlyCollection<Job> Running => _running.Values.ToArray();

    public IReadOnlyDictionary<string, JobStats> Stats => _stats;

    /// <summary>Runs a job to completion. The job's error, if any, is rethrown for the caller to report.</summary>
    public async Task RunAsync(Job job)
    {
        if (!_handlers.TryGetValue(job.Name, out var handler))
            throw ApiException.NotFound("page not found");
        long t0 = job.Begin();
        _running[job.Id] = job;
        Exception? error = null;
        try
        {
            await handler(job);
        }
        catch (Exception e)
        {
            error = e;
            throw;
        }
        finally
        {
            _running.TryRemove(job.Id, out _);
            job.End(error);
            var elapsed = Stopwatch.GetElapsedTime(t0);
            _stats.GetOrAdd(job.Name, _ => new JobStats()).Record(elapsed, error is null);
            if (error is null) LogJobDone(job.Name, job.Id, elapsed.TotalMilliseconds);
            else LogJobFailed(job.Name, job.Id, elapsed.TotalMilliseconds, error.Message);
        }
    }

    public void OnShutdown(Func<Task> hook)
    {
        lock (_shutdown) _shutdown.Add(hook);
    }

    /// <summary>Runs the shutdown hooks in reverse registration order.</summary>
    public async Task ShutdownAsync()
    {
        Func<Task>[] hooks;
        lock (_shutdown) hooks = _shutdown.AsEnumerable().Reverse().ToArray();
        foreach (var h in hooks)
        {
            try { await h(); }
            catch (Exception e) { LogShutdownHookFailed(e.Message); }
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "job {Name}#{Id} done in {Ms:F1} ms")]
    partial void LogJobDone(string name, long id, double ms);

    [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "job {Name}#{Id} failed after {Ms:F1} ms: {Error}")]
    partial void LogJobFailed(string name, long id, double ms, string error);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "shutdown hook failed: {Error}")]
    partial void LogShutdownHookFailed(string error);
}

/// <summary>Counts and total time per job name, for metrics.</summary>
public sealed class JobStats
{
    long _ok, _failed, _ticks;
    public long Succeeded => Interlocked.Read(ref _ok);
    public long Failed => Interlocked.Read(ref _failed);
    public TimeSpan Total => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

    internal void Record(TimeSpan elapsed, bool ok)
    {
        Interlocked.Add(ref _ticks, elapsed.Ticks);
        if (ok) Interlocked.Increment(ref _ok); else Interlocked.Increment(ref _failed);
    }
}
