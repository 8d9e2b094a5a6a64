using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>
/// A registry on 127.0.0.1 serving one image whose only layer (about 2 MB, incompressible) can be made
/// to stall halfway: the first half is sent, then nothing until <see cref="Release"/>. Lets a test
/// interrupt a pull at a known point.
/// </summary>
sealed class StallingRegistry : IAsyncDisposable
{
    readonly HttpListener _listener = new();
    readonly byte[] _layer, _config, _manifest;
    readonly string _layerDigest, _configDigest;
    readonly TaskCompletionSource _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Task _loop;

    public string Host { get; }
    /// <summary>While true, layer downloads stop halfway until <see cref="Release"/>.</summary>
    public bool Stall { get; set; } = true;
    /// <summary>Completes once a layer download has stalled.</summary>
    public Task Stalled => _stalled.Task;

    public StallingRegistry()
    {
        var tar = new MemoryStream();
        using (var w = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var data = RandomNumberGenerator.GetBytes(2 << 20);
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "payload.bin") { DataStream = new MemoryStream(data), Mode = (UnixFileMode)0b110_100_100 });
        }
        var diffId = Digest(tar.ToArray());
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(tar.ToArray());
        _layer = gz.ToArray();
        _layerDigest = Digest(_layer);
        _config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["{{{diffId}}}"]}}""");
        _configDigest = Digest(_config);
        _manifest = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":{{{_config.Length}}},"digest":"{{{_configDigest}}}"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{{{_layer.Length}}},"digest":"{{{_layerDigest}}}"}]}""");

        for (int attempt = 0; ; attempt++)
        {
            Host = $"127.0.0.1:{DockerRegistry.FreePort()}";
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://{Host}/");
            try { _listener.Start(); break; }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _loop = Task.Run(LoopAsync);
    }

    static string Digest(byte[] b) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(b));

    public void Release() => _release.TrySetResult();

    async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                try { await HandleAsync(ctx); }
                catch (Exception) { try { ctx.Response.Abort(); } catch (Exception) { } }
            });
        }
    }

    async Task HandleAsync(HttpListenerContext ctx)
    {
        var path = ctx.Request.Url!.AbsolutePath;
        var res = ctx.Response;
        (byte[] Body, string Type)? answer = path switch
        {
            "/v2/" => ("{}"u8.ToArray(), "application/json"),
            _ when path == "/v2/stall/app/manifests/v1" => (_manifest, "application/vnd.docker.distribution.manifest.v2+json"),
            _ when path == $"/v2/stall/app/blobs/{_configDigest}" => (_config, "application/octet-stream"),
            _ when path == $"/v2/stall/app/blobs/{_layerDigest}" => (_layer, "application/octet-stream"),
            _ => null,
        };
        if (answer is not { } a)
        {
            res.StatusCode = 404;
            res.Close();
            return;
        }
        res.ContentType = a.Type;
        // Ranges are not offered: a resumed download must cope with a full body too.
        res.ContentLength64 = a.Body.Length;
        if (ctx.Request.HttpMethod == "HEAD") { res.Close(); return; }
        if (a.Body == _layer && Stall)
        {
            await res.OutputStream.WriteAsync(a.Body.AsMemory(0, a.Body.Length / 2));
            await res.OutputStream.FlushAsync();
            _stalled.TrySetResult();
            await _release.Task;
            await res.OutputStream.WriteAsync(a.Body.AsMemory(a.Body.Length / 2));
        }
        else await res.OutputStream.WriteAsync(a.Body);
        res.Close();
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        _listener.Stop();
        _listener.Close();
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
    }
}

/// <summary>Pulls interrupted halfway through a layer: by the client going away, and by berthd being killed.</summary>
public sealed class RegistryFaultTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    static void Ok((int Code, string Out, string Err) r) => Assert.True(r.Code == 0, $"exit {r.Code}\n{r.Out}\n{r.Err}");

    Process StartPull(string image)
    {
        var psi = new ProcessStartInfo(Path.Combine(d.BinDir, "berth")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-H", d.Host, "pull", image }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }

    async Task AssertNotListedAsync(string repository)
    {
        var images = await d.Berth("images", "--format", "{{.Repository}}:{{.Tag}}");
        Ok(images);
        Assert.DoesNotContain(repository, images.Out);
    }

    async Task PullCompletesAsync(string image)
    {
        var pull = await d.Berth("pull", image);
        Ok(pull);
        Assert.Contains("Pull complete", pull.Out);
        Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
        var inspect = await d.Berth("image", "inspect", "-f", "{{len .RootFS.Layers}}", image);
        Ok(inspect);
        Assert.Equal("1", inspect.Out.Trim());
        Ok(await d.Berth("rmi", image));
    }

    string[] Spools() => Directory.Exists(Path.Combine(d.DataRoot, "tmp")) ? Directory.GetFileSystemEntries(Path.Combine(d.DataRoot, "tmp")) : [];

    [Fact]
    public async Task A_pull_whose_client_goes_away_mid_layer_leaves_nothing_visible_and_the_next_pull_completes()
    {
        d.Require();
        await using var reg = new StallingRegistry();
        var image = $"{reg.Host}/stall/app:v1";
        using var client = StartPull(image);
        await reg.Stalled.WaitAsync(TimeSpan.FromSeconds(60));
        client.Kill();
        await client.WaitForExitAsync();

        await AssertNotListedAsync($"{reg.Host}/stall/app");
        reg.Stall = false;
        reg.Release();
        await PullCompletesAsync(image);
        // Whether the abandoned job was cancelled or ran on, its spool is gone once it ends.
        for (int i = 0; i < 100 && Spools().Length > 0; i++) await Task.Delay(100);
        Assert.Empty(Spools());
    }

    [Fact]
    public async Task A_pull_cut_by_sigkill_of_berthd_leaves_nothing_visible_after_restart_and_the_next_pull_completes()
    {
        d.Require();
        await using var reg = new StallingRegistry();
        var image = $"{reg.Host}/stall/app:v1";
        using var client = StartPull(image);
        await reg.Stalled.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEmpty(Spools()); // the half-downloaded layer is on disk right now

        await d.CrashDaemonAsync();
        await client.WaitForExitAsync();
        Assert.NotEqual(0, client.ExitCode);
        await d.StartDaemonAsync();

        Assert.Empty(Spools());
        await AssertNotListedAsync($"{reg.Host}/stall/app");
        reg.Stall = false;
        await PullCompletesAsync(image);
    }
}
