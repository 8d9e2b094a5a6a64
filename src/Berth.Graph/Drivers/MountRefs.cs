namespace Berth.Graph.Drivers;

/// <summary>In-memory mount reference counts per layer id; the first Mount and the last Unmount do real work.</summary>
internal sealed class MountRefs
{
    readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    public Lock Sync { get; } = new();

    /// <summary>Returns the count after incrementing; 1 means the caller must mount.</summary>
    public int Increment(string id) => _counts[id] = _counts.GetValueOrDefault(id) + 1;

    /// <summary>Returns the count after decrementing (never below 0); 0 means the caller must unmount.</summary>
    public int Decrement(string id)
    {
        int n = Math.Max(0, _counts.GetValueOrDefault(id) - 1);
        if (n == 0) _counts.Remove(id); else _counts[id] = n;
        return n;
    }

    public void Forget(string id) => _counts.Remove(id);

    /// <summary>Mount for drivers whose layer directory is the rootfs itself (vfs, btrfs): nothing to mount, only a reference.</summary>
    public string Hold(string id, string dir)
    {
        if (!Directory.Exists(dir)) throw new NotFoundException($"layer {id} does not exist");
        lock (Sync) Increment(id);
        return dir;
    }

    public void Release(string id)
    {
        lock (Sync) Decrement(id);
    }
}
