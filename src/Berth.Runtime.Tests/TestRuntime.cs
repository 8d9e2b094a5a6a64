using System.Diagnostics;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// What the tests that run real containers share: the published (NativeAOT) berth-runc, and
/// busybox bundles in temp directories.
/// </summary>
static class TestRuntime
{
    /// <summary>
    /// The test classes that start child processes run one at a time: some tests check with
    /// waitpid(-1) that nothing of theirs is left, which would otherwise reap another class's child.
    /// </summary>
    public const string ChildProcesses = "child processes";

    /// <summary>berth-runc from BERTH_RUNC_PATH, or artifacts/pub/berth-runc at the repository root; skips the test when there is none.</summary>
    public static string RequireRunc()
    {
        if (Environment.UserName != "root") Assert.Skip("needs root to create namespaces and mounts");
        if (!File.Exists("/bin/busybox")) Assert.Skip("needs /bin/busybox (busybox-static) for the test rootfs");
        var path = Find();
        if (path is null) Assert.Skip("berth-runc (NativeAOT) not found: set BERTH_RUNC_PATH or run `dotnet publish src/Berth.Runc -c Release -r linux-x64 -o artifacts/pub`");
        return path!;
    }

    static string? Find()
    {
        if (Environment.GetEnvironmentVariable("BERTH_RUNC_PATH") is { Length: > 0 } fromEnv) return File.Exists(fromEnv) ? fromEnv : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Berth.slnx")))
                return File.Exists(Path.Combine(dir.FullName, "artifacts/pub/berth-runc")) ? Path.Combine(dir.FullName, "artifacts/pub/berth-runc") : null;
        return null;
    }

    /// <summary>A temp bundle directory whose rootfs has busybox and <paramref name="applets"/> linked to it.</summary>
    public static DirectoryInfo NewBundle(IEnumerable<string> applets)
    {
        var bundle = Directory.CreateTempSubdirectory("berth-runtime-test-");
        var bin = Path.Combine(bundle.FullName, "rootfs/bin");
        Directory.CreateDirectory(bin);
        File.Copy("/bin/busybox", Path.Combine(bin, "busybox"));
        foreach (var applet in applets) File.CreateSymbolicLink(Path.Combine(bin, applet), "busybox");
        foreach (var dir in new[] { "proc", "sys", "dev", "tmp" }) Directory.CreateDirectory(Path.Combine(bundle.FullName, "rootfs", dir));
        return bundle;
    }

    /// <summary>
    /// Runs a bash script in <paramref name="workDir"/> with <paramref name="env"/> added and stdin
    /// closed; bash lets a test give a runtime's stdio as files and fds, as runc's callers do.
    /// </summary>
    public static (int Code, string Out, string Err) Bash(string script, IReadOnlyDictionary<string, string> env, string workDir, int timeoutMs = 30_000)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var (key, value) in env) psi.Environment[key] = value;
        psi.WorkingDirectory = workDir;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"timed out: {script}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
