using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Daemon.Tests;
using Xunit;

namespace Berth.Registry.Server.Tests;

/// <summary>
/// Real clients against berth-registry on loopback: skopeo against the published binary (with
/// basic auth), and a private dockerd (own socket, roots, containerd namespaces and cgroup
/// parent) pushing, pulling and running an image. Both build their busybox image from
/// /bin/busybox; nothing is fetched from anywhere.
/// </summary>
public sealed class InteropTests
{
    static string? Missing(params string[] programs)
    {
        foreach (var p in programs)
            if (!File.Exists(p)) return $"{p} is not installed (scripts/install-deps)";
        if (!File.Exists("/bin/busybox")) return "busybox-static is not installed (/bin/busybox)";
        return null;
    }

    static async Task<string> Run(string file, params string[] args)
    {
        var (code, stdout, stderr) = await Tools.RunAsync(file, args, timeoutSeconds: 300);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} exited {code}: {stderr}{stdout}");
        return stdout;
    }

    /// <summary>A busybox rootfs tar made by scripts/busybox-rootfs.</summary>
    static async Task<string> BusyboxTar(string dir)
    {
        var rootfs = Path.Combine(dir, "rootfs");
        await Run(Path.Combine(Tools.RepoRoot, "scripts", "busybox-rootfs"), rootfs);
        var tar = Path.Combine(dir, "busybox.tar");
        await Run("/bin/tar", "--numeric-owner", "-C", rootfs, "-cf", tar, ".");
        return tar;
    }

    static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>Writes an OCI image layout with one gzip layer made from <paramref name="tar"/>; returns the manifest digest.</summary>
    static string WriteOciLayout(string layout, string tar)
    {
        var blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        string Store(string tmp)
        {
            var digest = Sha256File(tmp);
            File.Move(tmp, Path.Combine(blobs, digest[7..]), overwrite: true);
            return digest;
        }
        string StoreBytes(string text)
        {
            var tmp = Path.Combine(layout, "tmp");
            File.WriteAllText(tmp, text);
            return Store(tmp);
        }
        var diffId = Sha256File(tar);
        var gz = Path.Combine(layout, "layer.tmp");
        using (var src = File.OpenRead(tar))
        using (var dst = new GZipStream(File.Create(gz), CompressionLevel.Fastest))
            src.CopyTo(dst);
        long layerSize = new FileInfo(gz).Length;
        var layer = Store(gz);
        var config = $$$"""{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["{{{diffId}}}"]}}""";
        var configDigest = StoreBytes(config);
        var manifest = $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{configDigest}}","size":{{Encoding.UTF8.GetByteCount(config)}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{layer}}","size":{{layerSize}}}]}""";
        var manifestDigest = StoreBytes(manifest);
        File.WriteAllText(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        File.WriteAllText(Path.Combine(layout, "index.json"),
            $$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{manifestDigest}}}","size":{{{Encoding.UTF8.GetByteCount(manifest)}}},"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}""");
        return manifestDigest;
    }

    [Fact]
    public async Task Skopeo_copies_an_oci_layout_into_berth_registry_with_basic_auth_and_back_out()
    {
        if (Missing("/usr/bin/skopeo", "/bin/tar") is { } why) Assert.Skip(why);
        var dir = Directory.CreateTempSubdirectory("berth-regskopeo-").FullName;
        try
        {
            var htpasswd = Path.Combine(dir, "htpasswd");
            File.WriteAllText(htpasswd, $"tester:{BCrypt.Net.BCrypt.HashPassword("pw", 5)}\n");
            await using var reg = await BerthRegistryProcess.StartAsync("--root", Path.Combine(dir, "registry"), "--htpasswd", htpasswd);
            var digest = WriteOciLayout(Path.Combine(dir, "src"), await BusyboxTar(dir));
            // skopeo keeps its auth and policy files wherever we point it; the user's are untouched.
            var policy = Path.Combine(dir, "policy.json");
            File.WriteAllText(policy, """{"default":[{"type":"insecureAcceptAnything"}]}""");
            string[] common = ["--policy", policy, "--insecure-policy"];
            var image = $"docker://{reg.HostPort}/t/busybox:latest";

            await Run("/usr/bin/skopeo", [.. common, "copy", "--dest-tls-verify=false", "--dest-creds", "tester:pw", $"oci:{Path.Combine(dir, "src")}:latest", image]);

            var inspect = await Run("/usr/bin/skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", "tester:pw", image);
            Assert.Equal(digest, TestRegistry.DigestOf(Encoding.UTF8.GetBytes(inspect)));

            // Another repository in the same registry: skopeo may mount the blobs across.
            await Run("/usr/bin/skopeo", [.. common, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", "tester:pw", "--dest-creds", "tester:pw", image, $"docker://{reg.HostPort}/u/copy:v1"]);
            var tags = await Run("/usr/bin/skopeo", "list-tags", "--tls-verify=false", "--creds", "tester:pw", $"docker://{reg.HostPort}/u/copy");
            Assert.Contains("v1", JsonDocument.Parse(tags).RootElement.GetProperty("Tags").EnumerateArray().Select(t => t.GetString()));

            await Run("/usr/bin/skopeo", [.. common, "copy", "--src-tls-verify=false", "--src-creds", "tester:pw", $"docker://{reg.HostPort}/u/copy:v1", $"oci:{Path.Combine(dir, "dst")}:latest"]);
            using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "dst", "index.json")));
            Assert.Equal(digest, index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString());
            foreach (var blob in Directory.EnumerateFiles(Path.Combine(dir, "src", "blobs", "sha256")))
                Assert.True(File.Exists(Path.Combine(dir, "dst", "blobs", "sha256", Path.GetFileName(blob))), $"blob {Path.GetFileName(blob)} missing after the round trip");

            var (code, _, err) = await Tools.RunAsync("/usr/bin/skopeo", ["inspect", "--tls-verify=false", image]);
            Assert.NotEqual(0, code);
            Assert.Contains("unauthorized", err, StringComparison.OrdinalIgnoreCase);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Berth_registry_command_runs_the_registry_program_with_its_arguments()
    {
        foreach (var bin in new[] { "berth", "berth-registry" })
            if (!File.Exists(Path.Combine(Tools.BinDir, bin))) Assert.Skip($"{bin} is not built in {Tools.BinDir}: run scripts/build");
        var dir = Directory.CreateTempSubdirectory("berth-regcli-").FullName;
        try
        {
            // garbage-collect needs an existing registry root; serve creates one, so make it by hand.
            Directory.CreateDirectory(Path.Combine(dir, "blobs"));
            var output = await Run(Path.Combine(Tools.BinDir, "berth"), "registry", "garbage-collect", "--root", dir, "--dry-run");
            Assert.Contains("0 manifests, 0 blobs marked, 0 blobs eligible for deletion", output);
            var (code, _, err) = await Tools.RunAsync(Path.Combine(Tools.BinDir, "berth"), ["registry", "serve", "--no-such-flag"]);
            Assert.Equal(2, code);
            Assert.Contains("unknown flag: --no-such-flag", err);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Dockerd_pushes_to_and_pulls_from_berth_registry_and_runs_the_image()
    {
        if (Missing("/usr/sbin/dockerd", Tools.DockerCli, "/bin/tar") is { } why) Assert.Skip(why);
        if (Environment.UserName != "root") Assert.Skip("dockerd needs root");
        var dir = Directory.CreateTempSubdirectory("berth-regdocker-").FullName;
        var tag = "berthreg" + Path.GetFileName(dir)[^6..].ToLowerInvariant().Replace('_', 'x').Replace('-', 'x');
        await using var reg = await TestRegistry.StartAsync();
        var daemon = new PrivateDockerd(dir, tag);
        try
        {
            await daemon.StartAsync();
            var tar = await BusyboxTar(dir);
            var image = $"{reg.HostPort}/t/busybox:latest";
            await daemon.Docker("import", "--change", "CMD [\"sh\"]", tar, image);
            var push = await daemon.Docker("push", image);
            Assert.Contains("digest: sha256:", push);
            await daemon.Docker("rmi", image);
            await daemon.Docker("pull", image);
            var output = await daemon.Docker("run", "--rm", "--network", "none", image, "echo", "hello from berth-registry");
            Assert.Equal("hello from berth-registry", output.Trim());

            using var tags = JsonDocument.Parse(await reg.Http.GetStringAsync("/v2/t/busybox/tags/list"));
            Assert.Equal("latest", tags.RootElement.GetProperty("tags")[0].GetString());
        }
        finally
        {
            await daemon.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A dockerd of the test's own: socket, data and exec roots, containerd namespaces and cgroup parent all private.</summary>
    sealed class PrivateDockerd(string dir, string tag) : IAsyncDisposable
    {
        string Socket => Path.Combine(dir, "docker.sock");
        Process? _process;

        public async Task StartAsync()
        {
            Directory.CreateDirectory(Path.Combine(dir, "config"));
            var psi = new ProcessStartInfo("/usr/sbin/dockerd") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] {
                "-H", "unix://" + Socket, "--data-root", Path.Combine(dir, "data"), "--exec-root", Path.Combine(dir, "exec"),
                "--pidfile", Path.Combine(dir, "dockerd.pid"), "--bridge", "none", "--iptables=false", "--ip6tables=false",
                "--ip-masq=false", "--containerd-namespace", tag, "--containerd-plugins-namespace", tag + "p",
                "--cgroup-parent", "/" + tag, "--oom-score-adjust", "0" })
                psi.ArgumentList.Add(a);
            _process = Process.Start(psi)!;
            var log = new StringBuilder();
            _ = Task.Run(async () => { while (await _process.StandardError.ReadLineAsync() is { } l) lock (log) log.AppendLine(l); });
            _ = _process.StandardOutput.ReadToEndAsync();
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (DateTime.UtcNow < deadline)
            {
                if (_process.HasExited) break;
                var (code, _, _) = await Tools.RunAsync(Tools.DockerCli, ["-H", "unix://" + Socket, "version"], env: Env);
                if (code == 0) return;
                await Task.Delay(300);
            }
            lock (log) throw new InvalidOperationException("private dockerd did not start: " + log);
        }

        Dictionary<string, string> Env => new() { ["DOCKER_CONFIG"] = Path.Combine(dir, "config"), ["DOCKER_HOST"] = "unix://" + Socket };

        public async Task<string> Docker(params string[] args)
        {
            var (code, stdout, stderr) = await Tools.RunAsync(Tools.DockerCli, args, env: Env, timeoutSeconds: 300);
            Assert.True(code == 0, $"docker {string.Join(' ', args)} exited {code}: {stderr}{stdout}");
            return stdout;
        }

        public async ValueTask DisposeAsync()
        {
            if (_process is { HasExited: false })
            {
                var (_, ids, _) = await Tools.RunAsync(Tools.DockerCli, ["ps", "-aq"], env: Env);
                foreach (var id in ids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    await Tools.RunAsync(Tools.DockerCli, ["rm", "-f", id], env: Env);
                var containerdPid = ReadPid(Path.Combine(dir, "exec", "containerd", "containerd.pid"));
                Tools.Kill(_process.Id, 15);
                if (!_process.WaitForExit(30_000)) _process.Kill();
                // dockerd stops the containerd it spawned; make sure.
                if (containerdPid is int pid && !ProcessGone(pid)) { Tools.Kill(pid, 9); }
            }
            _process?.Dispose();
            Tools.UnmountUnder(dir);
            foreach (var cg in Directory.EnumerateDirectories("/sys/fs/cgroup"))
            {
                var ours = Path.Combine(cg, tag);
                if (Directory.Exists(ours)) try { Directory.Delete(ours); } catch (IOException) { }
            }
        }

        static int? ReadPid(string path) => File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), out var p) ? p : null;

        static bool ProcessGone(int pid)
        {
            for (int i = 0; i < 50; i++)
            {
                if (!Directory.Exists($"/proc/{pid}")) return true;
                Thread.Sleep(100);
            }
            return false;
        }
    }
}
