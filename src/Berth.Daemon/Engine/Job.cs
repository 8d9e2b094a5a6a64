using System.Diagnostics;

namespace Berth.Daemon.Engine;

public enum JobState { Pending, Running, Succeeded, Failed }

/// <summary>
/// The smallest unit of work, shaped like a Unix process (the article's Job): a name, arguments,
/// an environment, standard streams, and an exit status with start and end times. The Server
/// turns each API request into one; the handler named by <see cref="Name"/> runs it.
/// </summary>
public sealed class Job
{
    static long s_nextId;

    public long Id { get; } = Interlocked.Increment(ref s_nextId);
    public string Name { get; }
    /// <summary>Positional arguments: path parameters such as a container id or image name.</summary>
    public IReadOnlyList<string> Args { get; }
    /// <summary>Named parameters: the query string and selected headers.</summary>
    public JobEnv Env { get; }
    /// <summary>Input: the request body.</summary>
    public Stream Stdin { get; }
    /// <summary>Output: how the job replies (JSON value, stream, or a hijacked connection).</summary>
    public IJobOutput Stdout { get; }
    public CancellationToken Cancelled { get; }

    public JobState State { get; private set; } = JobState.Pending;
    public DateTimeOffset StartedAt { get; private set; }
    public DateTimeOffset EndedAt { get; private set; }
    public Exception? Error { get; private set; }
    /// <summary>Exit status in the Unix sense: 0 for success.</summary>
    public int Status => State == JobState.Succeeded ? 0 : Error is ApiException api ? api.StatusCode : 1;

    public Job(string name, IReadOnlyList<string> args, JobEnv env, Stream stdin, IJobOutput stdout, CancellationToken cancelled)
    {
        Name = name;
        Args = args;
        Env = env;
        Stdin = stdin;
        Stdout = stdout;
        Cancelled = cancelled;
    }

    public string Arg(int i) => i < Args.Count ? Args[i] : throw ApiException.BadRequest($"job {Name}: missing argument {i}");

    internal long Begin()
    {
        State = JobState.Running;
        StartedAt = DateTimeOffset.UtcNow;
        return Stopwatch.GetTimestamp();
    }

    internal void End(Exception? error)
    {
        EndedAt = DateTimeOffset.UtcNow;
        Error = error;
        State = error is null ? JobState.Succeeded : JobState.Failed;
    }
}

/// <summary>A job's named parameters, with Docker's parsing rules for booleans and numbers.</summary>
public sealed class JobEnv
{
    readonly Dictionary<string, string[]> _values;

    public JobEnv(Dictionary<string, string[]>? values = null) =>
        _values = values ?? new Dictionary<string, string[]>(StringComparer.Ordinal);

    /// <summary>The first value of <paramref name="key"/>, or null.</summary>
    public string? Get(string key) => _values.TryGetValue(key, out var v) && v.Length > 0 ? v[0] : null;
    /// <summary>Every value of a repeated parameter (<c>names=a&amp;names=b</c>).</summary>
    public IReadOnlyList<string> GetAll(string key) => _values.TryGetValue(key, out var v) ? v : Array.Empty<string>();
    public void Set(string key, string value) => _values[key] = new[] { value };
    public bool Has(string key) => _values.ContainsKey(key);

    /// <summary>Docker's BoolValue: "", 0, no, false and none are false; anything else true.</summary>
    public bool GetBool(string key)
    {
        var v = Get(key);
        if (v is null) return false;
        v = v.Trim().ToLowerInvariant();
        return !(v is "" or "0" or "no" or "false" or "none");
    }

    public int? GetInt(string key)
    {
        var v = Get(key);
        if (string.IsNullOrEmpty(v)) return null;
        return int.TryParse(v, out var i) ? i : throw ApiException.BadRequest($"invalid value for {key}: {v}");
    }

    public long? GetLong(string key)
    {
        var v = Get(key);
        if (string.IsNullOrEmpty(v)) return null;
        return long.TryParse(v, out var i) ? i : throw ApiException.BadRequest($"invalid value for {key}: {v}");
    }
}
