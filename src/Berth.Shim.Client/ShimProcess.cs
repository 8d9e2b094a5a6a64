using System.Diagnostics;

namespace Berth.Shim.Client;

public sealed class ShimLaunchOptions
{
    public required string Id { get; init; }
    /// <summary>OCI bundle directory holding config.json.</summary>
    public required string BundleDir { get; init; }
    /// <summary>Where the shim keeps shim.pid, init.pid, shim.log and exit.json.</summary>
    public required string StateDir { get; init; }
    /// <summary>The shim's listening socket. Must be shorter than 108 bytes (sun_path).</summary>
    public required string SocketPath { get; init; }
    /// <summary>The container's json-file log.</summary>
    public required string LogPath { get; init; }
    /// <summary>berth-runc used as the container's init stage; null lets the runtime pick its default.</summary>
    public string? InitPath { get; init; }
    /// <summary>An external OCI runtime CLI (runc, crun) the shim drives instead of Berth's own runtime; null for Berth's.</summary>
    public string? RuntimePath { get; init; }
    /// <summary>The berth-shim binary; default: berth-shim beside the current executable.</summary>
    public string? ShimPath { get; init; }
    /// <summary>
    /// Whether the container gets a stdin pipe fed by attach streams (Docker's OpenStdin). When false its
    /// stdin is /dev/null, so a program reading stdin sees EOF at once instead of blocking forever.
    /// </summary>
    public bool OpenStdin { get; init; } = true;
}

/// <summary>A shim that has created its container (not yet started) and is listening on its socket.</summary>
public sealed class ShimHandle(Process process, int initPid, ShimClient client)
{
    /// <summary>
    /// The shim process. While berthd lives, .NET reaps it when it exits; after a daemon restart the shim
    /// is found again through its socket and state dir instead.
    /// </summary>
    public Process Process { get; } = process;
    public int ShimPid => Process.Id;
    /// <summary>Host pid of the container's init.</summary>
    public int InitPid { get; } = initPid;
    public ShimClient Client { get; } = client;
}

public static class ShimProcess
{
    public const string ExecutableName = "berth-shim";

    public static string DefaultShimPath =>
        Path.Combine(Path.GetDirectoryName(Environment.ProcessPath) ?? AppContext.BaseDirectory, ExecutableName);

    /// <summary>
    /// Starts berth-shim and waits for its one status line (<c>ready &lt;pid&gt;</c> or <c>error &lt;message&gt;</c>).
    /// Throws <see cref="ShimException"/> with the shim's message when it could not create the container.
    /// </summary>
    public static Task<ShimHandle> Launch(ShimLaunchOptions options, CancellationToken ct = default)
    {
        CheckSocketPath(options);
        var process = Start(options.ShimPath ?? DefaultShimPath, Arguments(options), standby: false);
        return ReadStatusAsync(process, options, ct);
    }

    internal static void CheckSocketPath(ShimLaunchOptions options)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(options.SocketPath) >= 108)
            throw new ArgumentException($"socket path too long for a unix socket: {options.SocketPath}", nameof(options));
    }

    /// <summary>
    /// A standby shim reads its arguments from stdin, a pipe from the daemon; any other shim's stdin is
    /// inherited, never a pipe to the daemon, so it can't notice the daemon going away.
    /// </summary>
    internal static Process Start(string shimPath, IEnumerable<string> args, bool standby)
    {
        var start = new ProcessStartInfo(shimPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = standby,
            UseShellExecute = false,
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        try
        {
            return Process.Start(start) ?? throw new ShimException($"could not start {start.FileName}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ShimException($"could not start {start.FileName}: {e.Message}", e);
        }
    }

    internal static async Task<ShimHandle> ReadStatusAsync(Process process, ShimLaunchOptions options, CancellationToken ct)
    {
        string? line;
        try
        {
            line = await process.StandardOutput.ReadLineAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            TryKill(process);
            throw;
        }
        if (line is not null && line.StartsWith("ready ", StringComparison.Ordinal)
            && int.TryParse(line.AsSpan(6), out int initPid))
            return new ShimHandle(process, initPid, new ShimClient(options.SocketPath));

        if (line is not null && line.StartsWith("error ", StringComparison.Ordinal))
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            throw new ShimException(line[6..]);
        }
        TryKill(process);
        throw new ShimException(line is null
            ? $"{ExecutableName} exited without reporting status"
            : $"{ExecutableName} said something unexpected: {line}");
    }

    internal static IEnumerable<string> Arguments(ShimLaunchOptions o)
    {
        yield return "--id"; yield return o.Id;
        yield return "--bundle"; yield return o.BundleDir;
        yield return "--state-dir"; yield return o.StateDir;
        yield return "--socket"; yield return o.SocketPath;
        yield return "--log"; yield return o.LogPath;
        if (o.InitPath is not null) { yield return "--init-path"; yield return o.InitPath; }
        if (o.RuntimePath is not null) { yield return "--runtime"; yield return o.RuntimePath; }
        if (!o.OpenStdin) yield return "--no-stdin";
    }

    internal static void TryKill(Process process)
    {
        try { process.Kill(); } catch (InvalidOperationException) { }
    }
}
