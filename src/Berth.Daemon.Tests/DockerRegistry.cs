using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// Debian's <c>docker-registry</c> (distribution 2.8) on 127.0.0.1 and a free port, with its storage and
/// config in a temp dir, optionally behind htpasswd basic auth. Skips the test when it isn't installed.
/// </summary>
public sealed class DockerRegistry : IAsyncDisposable
{
    public const string Binary = "/usr/bin/docker-registry";
    readonly string _dir = Directory.CreateTempSubdirectory("berth-dreg-").FullName;
    Process? _process;

    public int Port { get; private set; }
    public string Host => $"127.0.0.1:{Port}";

    /// <param name="port">A port reserved earlier (e.g. one a daemon was told about at start); 0 picks a free one.</param>
    public static async Task<DockerRegistry> StartAsync(string? user = null, string? password = null, int port = 0)
    {
        if (!File.Exists(Binary)) Assert.Skip($"{Binary} is not installed (Debian package docker-registry)");
        var r = new DockerRegistry { Port = port };
        try { await r.RunAsync(user, password); }
        catch
        {
            await r.DisposeAsync();
            throw;
        }
        return r;
    }

    async Task RunAsync(string? user, string? password)
    {
        if (Port == 0) Port = FreePort();
        var auth = "";
        if (user is not null)
        {
            if (!File.Exists("/usr/bin/htpasswd")) Assert.Skip("htpasswd is not installed (Debian package apache2-utils)");
            var (code, line, err) = await Tools.RunAsync("/usr/bin/htpasswd", ["-Bbn", user, password ?? ""]);
            if (code != 0) throw new InvalidOperationException("htpasswd failed: " + err);
            File.WriteAllText(Path.Combine(_dir, "htpasswd"), line.Trim() + "\n");
            auth = $"auth:\n  htpasswd:\n    realm: berth-test\n    path: {_dir}/htpasswd\n";
        }
        var config = Path.Combine(_dir, "config.yml");
        File.WriteAllText(config, $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {_dir}/root
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{Port}
            {auth}
            """);
        var psi = new ProcessStartInfo(Binary) { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(config);
        _process = Process.Start(psi)!;
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        for (int i = 0; i < 200; i++)
        {
            if (_process.HasExited) throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode}");
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) { await Task.Delay(50); }
        }
        throw new TimeoutException("docker-registry did not start listening");
    }

    /// <summary>A loopback port nobody listens on right now.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        Directory.Delete(_dir, true);
    }
}
