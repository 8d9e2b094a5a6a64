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
}
