using System.Runtime.InteropServices;
using Berth.Interop;
using Berth.Runtime.Json;
using Berth.Runtime.Oci;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime;

/// <summary>The OCI state a hook reads on its stdin.</summary>
public sealed class HookState
{
    public string OciVersion { get; set; } = "1.2.0";
    public required string Id { get; set; }
    public required string Status { get; set; }
    public int Pid { get; set; }
    public required string Bundle { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
}

static class HookJson
{
    public static readonly ObjectCodec<HookState> HookState = new(() => new() { Id = "", Status = "", Bundle = "" })
    {
        { "ociVersion", Codecs.String, o => o.OciVersion, (o, v) => o.OciVersion = v! },
        { "id", Codecs.String, o => o.Id, (o, v) => o.Id = v! },
        { "status", Codecs.String, o => o.Status, (o, v) => o.Status = v! },
        { "pid", Codecs.Int32, o => o.Pid, (o, v) => o.Pid = v },
        { "bundle", Codecs.String, o => o.Bundle, (o, v) => o.Bundle = v! },
        { "annotations", Codecs.StringMap, o => o.Annotations, (o, v) => o.Annotations = v },
    };
}

/// <summary>
/// Runs the spec's hooks as the runtime spec says: each with its args (args[0] is argv[0]) and
/// env only, the state JSON on stdin, in order, and killed when it outlives its timeout.
/// Where they run is the caller's business: the parent for prestart/createRuntime/poststart/poststop,
/// init for createContainer (before pivot_root) and startContainer (just before execve).
/// </summary>
public static class HookRunner
{
    /// <summary>Runs <paramref name="hooks"/>; throws <see cref="RuntimeException"/> at the first that fails.</summary>
    public static void Run(string phase, IReadOnlyList<Hook>? hooks, HookState state)
    {
        for (var i = 0; i < (hooks?.Count ?? 0); i++) RunOne(phase, i, hooks![i], state);
    }

    /// <summary>For poststart and poststop, whose failures the spec says must not stop anything: logged, not thrown.</summary>
    public static void RunLoggingFailures(string phase, IReadOnlyList<Hook>? hooks, HookState state)
    {
        for (var i = 0; i < (hooks?.Count ?? 0); i++)
        {
            try { RunOne(phase, i, hooks![i], state); }
            catch (RuntimeException e) { Console.Error.WriteLine($"warning: {e.Message}"); }
        }
    }

    static void RunOne(string phase, int index, Hook hook, HookState state)
    {
        var name = $"{phase} hook #{index} ({hook.Path})";
        if (!Path.IsPathRooted(hook.Path)) throw new RuntimeException($"{name}: path must be absolute");
        // args[0] is the hook's argv[0], which may differ from its path: dockerd's network hook is
        // /proc/<pid>/exe with argv[0] "libnetwork-setkey", which is how dockerd knows what to run.
        string[] argv = hook.Args is { Count: > 0 } args ? [.. args] : [hook.Path];
        var (stdinRead, stdinWrite) = LibC.Pipe();
        var (outRead, outWrite) = LibC.Pipe();
        int pid;
        try { pid = NamespaceSpawner.PosixSpawn(hook.Path, argv, [.. hook.Env ?? []], [stdinRead, outWrite, outWrite]); }
        catch (SysException e)
        {
            foreach (var fd in new[] { stdinRead, stdinWrite, outRead, outWrite }) LibC.Close(fd);
            throw new RuntimeException($"{name}: {e.Message}", e);
        }
        LibC.Close(stdinRead);
        LibC.Close(outWrite);
        using var output = new FileStream(new SafeFileHandle(outRead, ownsHandle: true), FileAccess.Read);
        var text = new StreamReader(output).ReadToEndAsync();
        // Unbuffered, so that a hook which exits without reading its stdin fails the write here, not a flush in Dispose.
        using (var stdin = new FileStream(new SafeFileHandle(stdinWrite, ownsHandle: true), FileAccess.Write, bufferSize: 0))
        {
            try { stdin.Write(HookJson.HookState.SerializeToUtf8Bytes(state)); }
            catch (IOException) { /* a hook that ignores its stdin may exit first */ }
        }
        var deadline = hook.Timeout is > 0 ? DateTime.UtcNow.AddSeconds(hook.Timeout.Value) : DateTime.MaxValue;
        var code = WaitUntil(pid, deadline);
        if (code is null)
        {
            // The hook runs in its own session: kill everything it started too.
            LibC.Kill(-pid, LibC.SIGKILL);
            ProcessControl.Reap(pid);
            throw new RuntimeException($"{name}: timed out after {hook.Timeout}s");
        }
        if (code != 0) throw new RuntimeException($"{name}: exit status {code}: {text.Result.Trim()}");
    }

    /// <summary>The exit code, or null if <paramref name="pid"/> still runs at <paramref name="deadline"/>.</summary>
    static int? WaitUntil(int pid, DateTime deadline)
    {
        if (deadline == DateTime.MaxValue) return ProcessControl.Reap(pid);
        for (var delay = 1; ; delay = Math.Min(delay * 2, 50))
        {
            var rc = LibC.WaitPid(pid, out var status, LibC.WNOHANG);
            if (rc == pid) return LibC.ExitCodeOf(status);
            if (rc == -1 && Marshal.GetLastPInvokeError() != Errno.EINTR) throw SysException.FromLastError("waitpid", $"pid {pid}");
            if (DateTime.UtcNow >= deadline) return null;
            Thread.Sleep(delay);
        }
    }
}
