using Xunit;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Berth.Registry.Server.Tests;

/// <summary>An in-process berth-registry on 127.0.0.1:&lt;free port&gt; over a temp root, with push helpers.</summary>
public sealed class TestRegistry : IAsyncDisposable
{
    public RegistryServer Server { get; }
    public string Root { get; }
    public HttpClient Http { get; }
    public string HostPort => $"{Server.Address.Host}:{Server.Address.Port}";

    TestRegistry(RegistryServer server, string root, HttpClient http) => (Server, Root, Http) = (server, root, http);

    public static async Task<TestRegistry> StartAsync(Func<RegistryOptions, RegistryOptions>? configure = null, HttpMessageHandler? handler = null)
    {
        var root = Directory.CreateTempSubdirectory("berth-regtest-").FullName;
        var options = new RegistryOptions { Addr = "127.0.0.1:0", Root = Path.Combine(root, "data"), LogLevel = "warn" };
        if (configure is not null) options = configure(options);
        var server = await RegistryServer.StartAsync(options);
        var http = new HttpClient(handler ?? new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = server.Address };
        return new TestRegistry(server, root, http);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }

    public static string DigestOf(byte[] data) => "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));

    public async Task<string> PushBlobAsync(string name, byte[] data)
    {
        var digest = DigestOf(data);
        using var res = await Http.PostAsync($"/v2/{name}/blobs/uploads/?digest={digest}", new ByteArrayContent(data));
        Assert.Equal(HttpStatusCode.Created, res.StatusCode);
        return digest;
    }

    public async Task<HttpResponseMessage> PutManifestAsync(string name, string reference, string json, string mediaType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return await Http.PutAsync($"/v2/{name}/manifests/{reference}", content);
    }

    /// <summary>Pushes a config and one layer of random bytes, then an OCI manifest for them; returns the manifest digest.</summary>
    public async Task<(string Manifest, string Config, string Layer)> PushImageAsync(string name, string tag, string? extra = null)
    {
        var layer = await PushBlobAsync(name, RandomBytes(1000));
        var config = await PushBlobAsync(name, Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"{Guid.NewGuid()}\"}}"));
        var json = ImageManifest(config, layer, extra);
        using var res = await PutManifestAsync(name, tag, json, ManifestInfo.OciManifest);
        Assert.Equal(HttpStatusCode.Created, res.StatusCode);
        return (DigestOf(Encoding.UTF8.GetBytes(json)), config, layer);
    }

    public static string ImageManifest(string config, string layer, string? extra = null, string configType = "application/vnd.oci.image.config.v1+json") =>
        $$"""{"schemaVersion":2,"mediaType":"{{ManifestInfo.OciManifest}}","config":{"mediaType":"{{configType}}","digest":"{{config}}","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{layer}}","size":1000}]{{extra}}}""";

    public static byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        Random.Shared.NextBytes(b);
        return b;
    }

    /// <summary>The spec's error body: the first error's code.</summary>
    public static async Task<string> ErrorCodeOf(HttpResponseMessage res)
    {
        var body = await res.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("errors")[0].GetProperty("code").GetString()!;
    }
}
