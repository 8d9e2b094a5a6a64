using Berth.Interop;

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

    /// <summary>
    /// Makes <paramref name="cwd"/> the working directory of a process that is already in the
    /// container's root (CVE-2024-21626). A cwd such as <c>/proc/self/fd/N</c>, N being a host
    /// directory init holds, would put the user's process outside the container through a magic
    /// link. So the path is resolved as text inside the root (<see cref="InRoot"/>), and getcwd
    /// then proves the result is reachable from the root: it fails with ENOENT for a directory
    /// outside it, which also catches a container process racing to swap a directory for a link.
    /// </summary>
    public static void EnterWorkingDirectory(string cwd)
    {
        string path;
        // readlink on the way can fail (a name too long, an I/O error): an error for the user, not a stack trace.
        try { path = InRoot(cwd); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { throw new RuntimeException($"chdir {cwd}: {e.Message}", e); }
        LibC.Check(LibC.Chdir(path), "chdir", cwd);
        try { LibC.GetCwd(); }
        catch (SysException e) when (e.Errno == Errno.ENOENT)
        {
            throw new RuntimeException($"process.cwd {cwd}: the working directory is outside the container's root; refusing to run the process there", e);
        }
    }

    /// <summary>
    /// <paramref name="path"/> resolved in the current root with every link, magic ones in /proc
    /// included, read as text and followed from "/": the result names no link the kernel would follow out.
    /// </summary>
    public static string InRoot(string path) => SecureJoin("", path) is { Length: > 0 } p ? p : "/";

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
