using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>The Engine API's wire rules and its answers to bad input, over the real socket.</summary>
public sealed class ApiTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    static async Task<(HttpStatusCode Status, string ContentType, string Message)> ErrorOf(HttpResponseMessage r)
    {
        var body = await r.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        return (r.StatusCode, r.Content.Headers.ContentType?.ToString() ?? "", doc.RootElement.GetProperty("message").GetString()!);
    }

    [Fact]
    public async Task Ping_advertises_the_api_version_and_os()
    {
        d.Require();
        using var c = d.Client();
        var r = await c.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/_ping"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("1.43", r.Headers.GetValues("Api-Version").Single());
        Assert.Equal("linux", r.Headers.GetValues("Ostype").Single());
        Assert.Equal("OK", await c.GetStringAsync("/v1.41/_ping"));
    }

    [Theory]
    [InlineData("/v1.99/version", "client version 1.99 is too new. Maximum supported API version is 1.43")]
    [InlineData("/v1.12/version", "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")]
    public async Task Out_of_range_versions_are_refused(string path, string message)
    {
        d.Require();
        using var c = d.Client();
        var (status, contentType, text) = await ErrorOf(await c.GetAsync(path));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("application/json", contentType);
        Assert.Equal(message, text);
    }

    [Fact]
    public async Task Unknown_routes_answer_404_page_not_found()
    {
        d.Require();
        using var c = d.Client();
        var (status, contentType, text) = await ErrorOf(await c.GetAsync("/v1.43/plugins/foo/json"));
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("application/json", contentType);
        Assert.Equal("page not found", text);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("")]
    [InlineData("[1,2,3]")]
    [InlineData("{\"Image\":\"busybox\",\"Cmd\":42}")]
    public async Task Malformed_create_bodies_get_400_and_create_nothing(string body)
    {
        d.Require();
        using var c = d.Client();
        var before = await c.GetStringAsync("/containers/json?all=1");
        var r = await c.PostAsync("/v1.43/containers/create", new StringContent(body, Encoding.UTF8, "application/json"));
        var (status, contentType, _) = await ErrorOf(r);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("application/json", contentType);
        Assert.Equal(before, await c.GetStringAsync("/containers/json?all=1"));
    }

    [Fact]
    public async Task Unknown_container_and_image_use_dockers_wording()
    {
        d.Require();
        using var c = d.Client();
        var (s1, _, m1) = await ErrorOf(await c.GetAsync("/v1.43/containers/nope/json"));
        Assert.Equal(HttpStatusCode.NotFound, s1);
        Assert.Equal("No such container: nope", m1);
        var (s2, _, m2) = await ErrorOf(await c.PostAsync("/v1.43/containers/create", new StringContent("{\"Image\":\"nosuchimage\"}", Encoding.UTF8, "application/json")));
        Assert.Equal(HttpStatusCode.NotFound, s2);
        Assert.Equal("No such image: nosuchimage:latest", m2);
        var (s3, _, m3) = await ErrorOf(await c.GetAsync("/v1.43/images/nosuchimage/json"));
        Assert.Equal(HttpStatusCode.NotFound, s3);
        Assert.Contains("No such image: nosuchimage", m3);
    }

    [Fact]
    public async Task Bad_container_names_and_filters_get_400()
    {
        d.Require();
        using var c = d.Client();
        var (s1, _, m1) = await ErrorOf(await c.PostAsync("/v1.43/containers/create?name=bad%20name", new StringContent("{\"Image\":\"busybox\"}", Encoding.UTF8, "application/json")));
        Assert.Equal(HttpStatusCode.BadRequest, s1);
        Assert.Contains("Invalid container name (bad name)", m1);
        var (s2, _, _) = await ErrorOf(await c.GetAsync("/v1.43/containers/json?filters=%7Bbroken"));
        Assert.Equal(HttpStatusCode.BadRequest, s2);
        var (s3, _, m3) = await ErrorOf(await c.GetAsync("/v1.43/containers/json?filters=" + Uri.EscapeDataString("{\"colour\":{\"red\":true}}")));
        Assert.Equal(HttpStatusCode.BadRequest, s3);
        Assert.Equal("invalid filter 'colour'", m3);
    }

    [Fact]
    public async Task Events_stream_container_lifecycle()
    {
        d.Require();
        using var c = d.Client();
        var since = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1;
        var (code, _, stderr) = await d.Berth("run", "--rm", "--name", "evented", "busybox", "true");
        Assert.True(code == 0, stderr);
        var until = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1;
        var filters = Uri.EscapeDataString("{\"container\":{\"evented\":true}}");
        var body = await c.GetStringAsync($"/v1.43/events?since={since}&until={until}&filters={filters}");
        var actions = body.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("Action").GetString()).ToList();
        Assert.Equal(new[] { "create", "attach", "start", "die", "destroy" }, actions.Where(a => a is not null).ToArray());
    }
}
