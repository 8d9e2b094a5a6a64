using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Berth.Interop;

namespace Berth.Shim.Client;

/// <summary>
/// Starts container shims with one berth-shim always started ahead of need. A standby shim has done
/// its process and runtime start-up and waits for its arguments on stdin, so a container start does
/// not wait for an exec and a runtime initialisation. The standby exits by itself at EOF on stdin,
/// which is also what happens when the daemon dies.
/// </summary>
public sealed class ShimLauncher : IAsyncDisposable
{
    readonly string _shimPath;
    readonly string[] _standbyArgs;
    readonly Lock _gate = new();
    Process? _standby;
    Task _refill = Task.CompletedTask;
    bool _disposed;

    /// <param name="owner">Shown after --standby in the standby's command line (berthd passes its exec root).</param>
    public ShimLauncher(string? shimPath = null, string? owner = null)
    {
        _shimPath = shimPath ?? ShimProcess.DefaultShimPath;
        _standbyArgs = owner is null ? ["--standby"] : ["--standby", owner];
        Refill();
    }

    public async Task<ShimHandle> LaunchAsync(ShimLaunchOptions options, CancellationToken ct = default)
    {
        ShimProcess.CheckSocketPath(options);
        var shimPath = options.ShimPath ?? _shimPath;
        Process? standby;
        lock (_gate)
        {
            standby = shimPath == _shimPath ? _standby : null;
            if (standby is not null) _standby = null;
        }
        try
        {
            if (standby is not null && Hand(standby, options))
                return await ShimProcess.ReadStatusAsync(standby, options, ct).ConfigureAwait(false);
            return await ShimProcess.Launch(options, ct).ConfigureAwait(false);
        }
        finally
        {
            if (standby is not null) Refill();
        }
    }

    /// <summary>Gives a standby its arguments; false when it is gone, and the caller starts a shim cold.</summary>
    static bool Hand(Process standby, ShimLaunchOptions options)
    {
        try
        {
            if (standby.HasExited) { standby.Dispose(); return false; }
            var args = ShimProcess.Arguments(options).ToArray();
            standby.StandardInput.Write(JsonSerializer.Serialize(args, ShimJsonContext.Default.StringArray) + "\n");
            standby.StandardInput.Close();
            return true;
        }
        catch (IOException)
        {
            ShimProcess.TryKill(standby);
            standby.Dispose();
            return false;
        }
    }

    void Refill()
    {
        lock (_gate)
        {
            if (_disposed || _standby is not null || !_refill.IsCompleted) return;
            _refill = Task.Run(() =>
            {
                Process p;
                try { p = StartInBackground(() => ShimProcess.Start(_shimPath, _standbyArgs, standby: true)); }
                catch (ShimException) { return; } // the next launch starts cold and says why
                lock (_gate)
                {
                    if (!_disposed && _standby is null) { _standby = p; return; }
                }
                Retire(p);
            });
        }
    }

    /// <summary>Lower priority for this thread's children: the standby's start-up runs while a container starts.</summary>
    public const int StandbyNice = 10;

    /// <summary>
    /// Runs <paramref name="start"/> with this thread's nice value raised by <see cref="StandbyNice"/>, so the
    /// process it forks starts in the background (a child inherits the nice value of the thread that forks it).
    /// </summary>
    static Process StartInBackground(Func<Process> start)
    {
        Marshal.SetLastPInvokeError(0);
        var nice = LibC.GetPriority(LibC.PRIO_PROCESS, 0);
        if (nice == -1 && Marshal.GetLastPInvokeError() != 0) return start();
        if (LibC.SetPriority(LibC.PRIO_PROCESS, 0, nice + StandbyNice) != 0) return start();
        try { return start(); }
        // Lowering it again needs CAP_SYS_NICE, which berthd has as root; a pool thread must not stay reniced.
        finally { LibC.SetPriority(LibC.PRIO_PROCESS, 0, nice); }
    }

    static void Retire(Process p)
    {
        try { p.StandardInput.Close(); } catch (IOException) { }
        if (!p.WaitForExit(2000)) ShimProcess.TryKill(p);
        p.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        Process? standby;
        Task refill;
        lock (_gate)
        {
            _disposed = true;
            standby = _standby;
            _standby = null;
            refill = _refill;
        }
        await refill.ConfigureAwait(false);
        if (standby is not null) await Task.Run(() => Retire(standby)).ConfigureAwait(false);
    }
}
