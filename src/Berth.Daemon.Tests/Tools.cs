using System.Diagnostics;
using Berth.Interop;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>Process helpers and host checks shared by the integration tests.</summary>
public static class Tools
{
    public const string DockerCli = "/usr/local/bin/docker";

    /// <summary>The trimmed stdout of a CLI run that must succeed; the failure names its exit code and output.</summary>
    public static async Task<string> Ok(Task<(int Code, string Out, string Err)> run)
    {
        var (code, output, err) = await run;
        Assert.True(code == 0, $"exit {code}: {err}{output}");
        return output.Trim();
    }

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string BinDir { get; } = Environment.GetEnvironmentVariable("BERTH_BIN_DIR") is { Length: > 0 } d ? d : Path.Combine(RepoRoot, "bin");

    /// <summary>Above the test binaries, or (when they were built into a separate --artifacts-path) above BERTH_BIN_DIR.</summary>
    static string FindRepoRoot()
    {
        var starts = new[] { AppContext.BaseDirectory, Environment.GetEnvironmentVariable("BERTH_BIN_DIR") };
        foreach (var start in starts.OfType<string>().Where(s => s.Length > 0))
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Berth.slnx"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    /// <summary>Why this host can't run the daemon tests, or null when it can.</summary>
    public static string? MissingPrerequisite()
    {
        if (LibC.geteuid() != 0) return "needs root (namespaces, mounts, cgroups)";
        foreach (var bin in new[] { "berth", "berthd", "berth-shim", "berth-runc" })
            if (!File.Exists(Path.Combine(BinDir, bin))) return $"{bin} is not built in {BinDir}: run scripts/build";
        if (!File.Exists("/bin/busybox")) return "busybox-static is not installed (/bin/busybox)";
        return null;
    }

    public static async Task<(int Code, string Out, string Err)> RunAsync(string file, string[] args, string? stdin = null, Dictionary<string, string>? env = null, int timeoutSeconds = 120)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeoutSeconds}s");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Mount points at or below <paramref name="root"/>, from /proc/self/mountinfo.</summary>
    public static List<string> MountsUnder(string root) =>
        File.ReadLines("/proc/self/mountinfo")
            .Select(l => l.Split(' ')[4].Replace("\\040", " "))
            .Where(m => m == root || m.StartsWith(root + "/", StringComparison.Ordinal))
            .ToList();

    public static void UnmountUnder(string root)
    {
        foreach (var m in MountsUnder(root).OrderByDescending(m => m.Length)) LibC.Umount2(m, 2 /* MNT_DETACH */);
    }

    public static void Kill(int pid, int signal) => LibC.Kill(pid, signal);

}
