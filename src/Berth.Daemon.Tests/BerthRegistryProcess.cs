using System.Diagnostics;
using System.Text;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// bin/berth-registry as a child process on a free port (127.0.0.1 unless the arguments give an
/// --addr), its address read from its first log line. Shared by the daemon and registry-server tests.
/// </summary>
public sealed class BerthRegistryProcess : IAsyncDisposable
{
    readonly Process _process;
    /// <summary>HOST:PORT as the server bound it.</summary>
    public string HostPort { get; }

    BerthRegistryProcess(Process p, string hostPort) => (_process, HostPort) = (p, hostPort);

    public static string Binary => Path.Combine(Tools.BinDir, "berth-registry");

    public static async Task<BerthRegistryProcess> StartAsync(params string[] args)
    {
        if (!File.Exists(Binary)) Assert.Skip($"berth-registry is not built in {Tools.BinDir}: run scripts/build");
        var psi = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("serve");
        if (!args.Contains("--addr")) { psi.ArgumentList.Add("--addr"); psi.ArgumentList.Add("127.0.0.1:0"); }
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var seen = new StringBuilder();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await p.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            seen.AppendLine(line);
            int at = line.IndexOf("listening on http", StringComparison.Ordinal);
            if (at < 0) continue;
            var url = line[(at + "listening on ".Length)..].Split(' ')[0];
            _ = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            return new BerthRegistryProcess(p, new Uri(url).Authority);
        }
        p.Kill();
        await p.WaitForExitAsync();
        throw new InvalidOperationException($"berth-registry did not start: {seen}{await p.StandardError.ReadToEndAsync()}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
