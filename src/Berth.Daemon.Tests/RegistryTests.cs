using System.Diagnostics;
using System.Text;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>berthd against Debian's docker-registry: push and pull with the berth CLI and with the real docker CLI.</summary>
public sealed class RegistryTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    static void Ok((int Code, string Out, string Err) r) => Assert.True(r.Code == 0, $"exit {r.Code}\n{r.Out}\n{r.Err}");

    [Fact]
    public async Task Berth_pushes_busybox_and_pulls_it_back_then_runs_it()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync();
        var name = $"{reg.Host}/team/busybox:v1";
        Ok(await d.Berth("tag", "busybox", name));
        var push = await d.Berth("push", name);
        Ok(push);
        Assert.Contains($"The push refers to repository [{reg.Host}/team/busybox]", push.Out);
        Assert.Matches(@"v1: digest: sha256:[0-9a-f]{64} size: \d+", push.Out);
        var again = await d.Berth("push", name);
        Ok(again);
        Assert.Contains("Layer already exists", again.Out);

        Ok(await d.Berth("rmi", name));
        var pull = await d.Berth("pull", name);
        Ok(pull);
        Assert.Contains("Pull complete", pull.Out.Replace("Already exists", "Pull complete"));
        Assert.Contains("Digest: sha256:", pull.Out);
        Assert.Contains($"Status: Downloaded newer image for {name}", pull.Out);
        var digests = await d.Berth("images", "--digests", "--format", "{{.Repository}} {{.Digest}}");
        Ok(digests);
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(reg.Host)}/team/busybox sha256:[0-9a-f]{{64}}", digests.Out);
        var run = await d.Berth("run", "--rm", name, "echo", "pulled");
        Ok(run);
        Assert.Equal("pulled\n", run.Out);
        Ok(await d.Berth("rmi", name));
    }

    [Fact]
    public async Task Pull_by_digest_restores_the_image_and_reports_its_digest()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync();
        var name = $"{reg.Host}/fresh:latest";
        Ok(await d.Berth("tag", "busybox", name));
        Ok(await d.Berth("push", name));
        var inspect = await d.Berth("images", "--digests", "--format", "{{.Repository}}@{{.Digest}}", $"{reg.Host}/fresh");
        Ok(inspect);
        // The rows cover every tag of the matched image (busybox:latest too); take the pushed repository's.
        var byDigest = inspect.Out.Split('\n').Single(l => l.StartsWith(reg.Host + "/fresh@sha256:", StringComparison.Ordinal));
        Ok(await d.Berth("rmi", name));
        var pull = await d.Berth("pull", byDigest);
        Ok(pull);
        Assert.Contains("Digest: " + byDigest.Split('@')[1], pull.Out);
        Ok(await d.Berth("rmi", byDigest));
    }

    [Fact]
    public async Task Docker_cli_logs_in_pushes_and_pulls_through_berthd_with_htpasswd_auth()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync("tester", "s3cret");
        var name = $"{reg.Host}/secure/busybox:v2";
        Ok(await d.Docker("tag", "busybox", name));
        var denied = await d.Docker("push", name);
        Assert.NotEqual(0, denied.Code);

        var bad = await d.Docker("login", "-u", "tester", "-p", "wrong", reg.Host);
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("401", bad.Err);
        var login = await d.Docker("login", "-u", "tester", "-p", "s3cret", reg.Host);
        Ok(login);
        Assert.Contains("Login Succeeded", login.Out);

        var push = await d.Docker("push", name);
        Ok(push);
        Assert.Matches(@"v2: digest: sha256:[0-9a-f]{64} size: \d+", push.Out);
        Ok(await d.Docker("rmi", name));
        var pull = await d.Docker("pull", name);
        Ok(pull);
        Assert.Contains($"Status: Downloaded newer image for {name}", pull.Out);
        Assert.Contains(name, pull.Out);
        Ok(await d.Docker("rmi", name));
    }

    [Fact]
    public async Task Pull_of_a_missing_tag_is_a_404_with_the_registrys_reason()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync();
        var r = await d.Docker("pull", $"{reg.Host}/nothing/here:nope");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("not found", r.Err);
    }

    [Fact]
    public async Task Search_against_a_registry_without_v1_search_fails_clearly()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync();
        var r = await d.Berth("search", $"{reg.Host}/busybox");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("does not offer search", r.Err);
    }

    [Fact]
    public async Task Pull_all_tags_fetches_every_tag_of_the_repository_with_berth_and_docker()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync();
        var repo = $"{reg.Host}/all/busybox";
        foreach (var tag in new[] { "a", "b" })
        {
            Ok(await d.Berth("tag", "busybox", $"{repo}:{tag}"));
            Ok(await d.Berth("push", $"{repo}:{tag}"));
            Ok(await d.Berth("rmi", $"{repo}:{tag}"));
        }

        var pull = await d.Berth("pull", "--all-tags", repo);
        Ok(pull);
        Assert.Contains("a: Pulling from all/busybox", pull.Out);
        Assert.Contains("b: Pulling from all/busybox", pull.Out);
        Assert.Contains($"Status: Downloaded newer image for {repo}\n", pull.Out);
        Assert.EndsWith($"\n{repo}\n", pull.Out);
        // The rows cover every name of the matched image (busybox:latest too); keep the repository's.
        var tags = await d.Berth("images", "--format", "{{.Repository}}:{{.Tag}}", repo);
        Ok(tags);
        Assert.Equal([$"{repo}:a", $"{repo}:b"], tags.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith(repo + ":", StringComparison.Ordinal)).Order());

        var docker = await d.Docker("pull", "-a", repo);
        Ok(docker);
        Assert.Contains($"Status: Image is up to date for {repo}", docker.Out);

        var both = await d.Berth("pull", "-a", $"{repo}:a");
        Assert.NotEqual(0, both.Code);
        Assert.Contains("tag can't be used with --all-tags/-a", both.Err);
        Ok(await d.Berth("rmi", $"{repo}:a", $"{repo}:b"));
    }

    [Fact]
    public async Task Push_all_tags_sends_every_local_tag_of_the_repository_with_berth_and_docker()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync();
        var repo = $"{reg.Host}/allpush/busybox";
        Ok(await d.Berth("tag", "busybox", $"{repo}:one"));
        Ok(await d.Berth("tag", "busybox", $"{repo}:two"));
        try
        {
            var push = await d.Berth("push", "--all-tags", repo);
            Ok(push);
            Assert.Equal(1, push.Out.Split('\n').Count(l => l.StartsWith("The push refers to repository", StringComparison.Ordinal)));
            Assert.Matches(@"(?m)^one: digest: sha256:[0-9a-f]{64} size: \d+$", push.Out);
            Assert.Matches(@"(?m)^two: digest: sha256:[0-9a-f]{64} size: \d+$", push.Out);
            using var http = new HttpClient();
            var list = await http.GetStringAsync($"http://{reg.Host}/v2/allpush/busybox/tags/list", TestContext.Current.CancellationToken);
            Assert.Contains("\"one\"", list);
            Assert.Contains("\"two\"", list);

            // docker push -a sends no tag at all; a third tag shows the daemon pushes what is local now.
            Ok(await d.Berth("tag", "busybox", $"{repo}:three"));
            var docker = await d.Docker("push", "-a", repo);
            Ok(docker);
            Assert.Contains("three: digest: sha256:", docker.Out);
            Assert.Contains("\"three\"", await http.GetStringAsync($"http://{reg.Host}/v2/allpush/busybox/tags/list", TestContext.Current.CancellationToken));

            var both = await d.Berth("push", "-a", $"{repo}:one");
            Assert.NotEqual(0, both.Code);
            Assert.Contains("tag can't be used with --all-tags/-a", both.Err);
            var none = await d.Berth("push", "-a", $"{reg.Host}/nothing/here");
            Assert.NotEqual(0, none.Code);
            Assert.Contains($"An image does not exist locally with the tag: {reg.Host}/nothing/here", none.Err);
        }
        finally
        {
            await d.Berth("rmi", $"{repo}:one", $"{repo}:two", $"{repo}:three");
        }
    }

    [Fact]
    public async Task Pull_without_access_names_the_repository_and_hints_at_login()
    {
        d.Require();
        await using var reg = await DockerRegistry.StartAsync("owner", "pw");
        var r = await d.Docker("pull", $"{reg.Host}/private/app:v1");
        Assert.NotEqual(0, r.Code);
        Assert.Contains($"Error response from daemon: pull access denied for {reg.Host}/private/app, repository does not exist or may require 'docker login'", r.Err);
    }

    [Fact]
    public async Task Login_refuses_to_prompt_without_a_terminal()
    {
        d.Require();
        var r = await d.BerthWithInput("", "login", "127.0.0.1:1");
        Assert.Equal(1, r.Code);
        Assert.Contains("Error: Cannot perform an interactive login from a non TTY device", r.Err);
    }

    /// <summary>Reads the terminal's output until <paramref name="marker"/> has appeared.</summary>
    static async Task ReadUntilAsync(StreamReader output, StringBuilder seen, string marker, CancellationToken ct)
    {
        var buf = new char[256];
        while (!seen.ToString().Contains(marker, StringComparison.Ordinal))
        {
            int n = await output.ReadAsync(buf, ct);
            if (n == 0) throw new InvalidOperationException($"output ended before '{marker}': {seen}");
            seen.Append(buf, 0, n);
        }
    }

    [Fact]
    public async Task Login_on_a_terminal_prompts_for_username_and_password_without_echoing_the_password()
    {
        d.Require();
        if (!File.Exists("/usr/bin/script")) Assert.Skip("script is not installed (Debian package util-linux)");
        await using var reg = await DockerRegistry.StartAsync("prompted", "Pr0mpted-Secret");
        var config = Directory.CreateTempSubdirectory("berth-prompt-").FullName;
        try
        {
            // script(1) gives berth a pseudo-terminal; its echo is what a user would see.
            var psi = new ProcessStartInfo("/usr/bin/script") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "-q", "-e", "-c", $"'{Path.Combine(d.BinDir, "berth")}' -H '{d.Host}' login {reg.Host}", "/dev/null" })
                psi.ArgumentList.Add(a);
            psi.Environment["DOCKER_CONFIG"] = config;
            using var p = Process.Start(psi)!;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var seen = new StringBuilder();
            await ReadUntilAsync(p.StandardOutput, seen, "Username: ", cts.Token);
            await p.StandardInput.WriteAsync("prompted\n");
            await p.StandardInput.FlushAsync();
            await ReadUntilAsync(p.StandardOutput, seen, "Password: ", cts.Token);
            await p.StandardInput.WriteAsync("Pr0mpted-Secret\n");
            await p.StandardInput.FlushAsync();
            await ReadUntilAsync(p.StandardOutput, seen, "Login Succeeded", cts.Token);
            await p.WaitForExitAsync(cts.Token);
            Assert.Equal(0, p.ExitCode);
            var screen = seen.ToString();
            Assert.Contains("Username: prompted", screen);
            Assert.DoesNotContain("Pr0mpted-Secret", screen);
            Assert.Contains(reg.Host, File.ReadAllText(Path.Combine(config, "config.json")));
        }
        finally { Directory.Delete(config, recursive: true); }
    }
}
