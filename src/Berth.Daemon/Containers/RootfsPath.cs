namespace Berth.Daemon.Containers;

/// <summary>
/// Resolves a path inside a container's root filesystem as the container would see it: symlinks
/// are followed, but always relative to the root, so a hostile image's <c>/etc/passwd →
/// /../../host/file</c> can never make the daemon read a host file.
/// </summary>
public static class RootfsPath
{
    const int MaxSymlinks = 255;

    public static string SecureJoin(string root, string path)
    {
        root = Path.GetFullPath(root);
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var resolved = new List<string>();
        int links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var candidate = Path.Combine(root, Path.Combine(resolved.Append(part).ToArray()));
            var info = new FileInfo(candidate);
            if (info.Exists || Directory.Exists(candidate))
            {
                var target = info.LinkTarget ?? new DirectoryInfo(candidate).LinkTarget;
                if (target is not null)
                {
                    if (++links > MaxSymlinks) throw new IOException($"too many levels of symbolic links in {path}");
                    if (target.StartsWith('/')) resolved.Clear();
                    foreach (var t in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(t);
                    continue;
                }
            }
            resolved.Add(part);
        }
        return resolved.Count == 0 ? root : Path.Combine(root, Path.Combine(resolved.ToArray()));
    }
}
