namespace Berth.Runtime.Init;

/// <summary>Path handling that a hostile rootfs cannot steer outside itself.</summary>
static class PathResolver
{
    /// <summary>
    /// <paramref name="root"/> joined with <paramref name="path"/>, following symlinks as if
    /// <paramref name="root"/> were "/": an absolute link or a ".." never leaves the root.
    /// </summary>
    public static string SecureJoin(string root, string path)
    {
        var pending = new List<string>(Split(path));
        var resolved = new List<string>();
        var links = 0;
        while (pending.Count > 0)
        {
            var part = pending[0];
            pending.RemoveAt(0);
            if (part == "..") { if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1); continue; }
            var candidate = root + "/" + string.Join('/', resolved.Append(part));
            var target = new FileInfo(candidate).LinkTarget;
            if (target is null) { resolved.Add(part); continue; }
            if (++links > 255) throw new RuntimeException($"too many levels of symbolic links in {path}");
            if (target.StartsWith('/')) resolved.Clear();
            pending.InsertRange(0, Split(target));
        }
        return resolved.Count == 0 ? root : root + "/" + string.Join('/', resolved);
    }

    static IEnumerable<string> Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");

    /// <summary>
    /// Resolves a command name the way exec.LookPath (and so runc) does, against the PATH in
    /// <paramref name="env"/>, in the current root. The errors match runc's wording.
    /// </summary>
    public static string LookPath(string name, IReadOnlyList<string>? env)
    {
        if (name.Contains('/'))
        {
            return IsExecutable(name, out var problem) ? name : throw new RuntimeException($"exec: \"{name}\": {problem}");
        }
        var pathVar = env?.LastOrDefault(e => e.StartsWith("PATH=", StringComparison.Ordinal))?[5..]
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var dir in pathVar.Split(':'))
        {
            var candidate = Path.Combine(dir.Length == 0 ? "." : dir, name);
            if (IsExecutable(candidate, out _)) return candidate;
        }
        throw new RuntimeException($"exec: \"{name}\": executable file not found in $PATH");
    }

    static bool IsExecutable(string path, out string problem)
    {
        problem = "";
        if (Directory.Exists(path)) { problem = "is a directory"; return false; }
        if (!File.Exists(path)) { problem = $"stat {path}: no such file or directory"; return false; }
        if ((File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
        { problem = "permission denied"; return false; }
        return true;
    }
}
