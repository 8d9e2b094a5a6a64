namespace Berth.Registry;

/// <summary>
/// One line of pull or push progress, in the terms of Docker's JSON progress stream: a status, the layer
/// it is about (<see cref="Id"/>), and byte counts when <see cref="Total"/> is known.
/// <see cref="Detail"/> says whether the message carries a <c>progressDetail</c> (layer lines do, even
/// when empty; summary lines such as <c>Digest: …</c> don't).
/// </summary>
public readonly record struct ProgressUpdate(string? Id, string Status, long Current = 0, long Total = 0, bool Detail = false)
{
    public static ProgressUpdate Line(string status, string? id = null) => new(id, status);
    public static ProgressUpdate Layer(string id, string status) => new(id, status, Detail: true);
    public static ProgressUpdate Bytes(string id, string status, long current, long total) => new(id, status, current, total, true);
}

/// <summary>
/// Forwards byte-count updates at most every <see cref="Interval"/> per layer (and always the last one), so a
/// fast loopback transfer doesn't spend its time writing progress JSON.
/// </summary>
sealed class ThrottledBytes(Action<ProgressUpdate> report, string id, string status, long total)
{
    static readonly long Interval = System.Diagnostics.Stopwatch.Frequency / 10;
    long _last;

    public void Report(long current)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (current < total && now - _last < Interval) return;
        _last = now;
        report(ProgressUpdate.Bytes(id, status, current, total));
    }
}
