using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Runtime.Oci;
using Process = System.Diagnostics.Process;

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

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HookState))]
internal sealed partial class HookJson : JsonSerializerContext;

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
        var psi = new ProcessStartInfo(hook.Path)
        {
            RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // The spec's args include argv[0]; ProcessStartInfo always passes the path as argv[0].
        foreach (var a in (hook.Args ?? []).Skip(1)) psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        foreach (var kv in hook.Env ?? [])
        {
            var eq = kv.IndexOf('=');
            if (eq > 0) psi.Environment[kv[..eq]] = kv[(eq + 1)..];
        }
        Process process;
        try { process = Process.Start(psi)!; }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            throw new RuntimeException($"{name}: {e.Message}", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                process.StandardInput.Write(JsonSerializer.Serialize(state, HookJson.Default.HookState));
                process.StandardInput.Close();
            }
            catch (IOException) { /* a hook that ignores its stdin may exit first */ }
            var timeout = hook.Timeout is > 0 ? TimeSpan.FromSeconds(hook.Timeout.Value) : Timeout.InfiniteTimeSpan;
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                throw new RuntimeException($"{name}: timed out after {hook.Timeout}s");
            }
            if (process.ExitCode != 0)
                throw new RuntimeException($"{name}: exit status {process.ExitCode}: {stderr.Result.Trim()}");
        }
    }
}
