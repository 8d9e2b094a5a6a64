using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Xunit;

namespace Berth.Registry.Server.Tests;

/// <summary>Basic auth from an htpasswd file, TLS, and garbage collection.</summary>
public sealed class AuthTlsGcTests
{
    static string WriteHtpasswd(string dir, string user, string password)
    {
        var path = Path.Combine(dir, "htpasswd");
        File.WriteAllText(path, $"# test users\n{user}:{BCrypt.Net.BCrypt.HashPassword(password, 5)}\n");
        return path;
    }

    [Fact]
    public async Task Htpasswd_registry_challenges_anonymous_and_wrong_credentials_and_admits_the_right_ones()
    {
        var dir = Directory.CreateTempSubdirectory("berth-regauth-").FullName;
        try
        {
            var htpasswd = WriteHtpasswd(dir, "alice", "s3cret");
            await using var reg = await TestRegistry.StartAsync(o => o with { Htpasswd = htpasswd });

            using (var anon = await reg.Http.GetAsync("/v2/"))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, anon.StatusCode);
                Assert.Equal("Basic realm=\"berth-registry\"", anon.Headers.WwwAuthenticate.ToString());
                Assert.Equal("UNAUTHORIZED", await TestRegistry.ErrorCodeOf(anon));
            }
            foreach (var (creds, expected) in new[] { ("alice:wrong", HttpStatusCode.Unauthorized), ("bob:s3cret", HttpStatusCode.Unauthorized), ("alice:s3cret", HttpStatusCode.OK) })
            {
                var req = new HttpRequestMessage(HttpMethod.Get, "/v2/");
                req.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(creds)));
                using var res = await reg.Http.SendAsync(req);
                Assert.Equal(expected, res.StatusCode);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Tls_registry_serves_https_with_the_given_certificate()
    {
        var dir = Directory.CreateTempSubdirectory("berth-regtls-").FullName;
        try
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            var certPath = Path.Combine(dir, "cert.pem");
            var keyPath = Path.Combine(dir, "key.pem");
            File.WriteAllText(certPath, cert.ExportCertificatePem());
            File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
            var thumbprint = cert.Thumbprint;

            var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, _, _) => c?.Thumbprint == thumbprint };
            await using var reg = await TestRegistry.StartAsync(o => o with { TlsCert = certPath, TlsKey = keyPath }, handler);
            Assert.Equal("https", reg.Server.Address.Scheme);
            using var res = await reg.Http.GetAsync("/v2/");
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    static X509Certificate2 SelfSigned(string subject, bool server)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    [Fact]
    public async Task Tls_client_ca_admits_only_clients_whose_certificate_chains_to_it()
    {
        var dir = Directory.CreateTempSubdirectory("berth-regmtls-").FullName;
        try
        {
            using var server = SelfSigned("127.0.0.1", server: true);
            using var trusted = SelfSigned("trusted client", server: false);
            using var stranger = SelfSigned("stranger", server: false);
            File.WriteAllText(Path.Combine(dir, "cert.pem"), server.ExportCertificatePem());
            File.WriteAllText(Path.Combine(dir, "key.pem"), server.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
            // A self-signed client certificate is its own CA.
            File.WriteAllText(Path.Combine(dir, "clients.pem"), trusted.ExportCertificatePem());
            await using var reg = await TestRegistry.StartAsync(o => o with
            {
                TlsCert = Path.Combine(dir, "cert.pem"), TlsKey = Path.Combine(dir, "key.pem"), TlsClientCa = Path.Combine(dir, "clients.pem"),
            });

            async Task<HttpStatusCode?> Get(X509Certificate2? clientCert)
            {
                var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, _, _) => c?.Thumbprint == server.Thumbprint };
                if (clientCert is not null) handler.ClientCertificates.Add(clientCert);
                using var http = new HttpClient(handler) { BaseAddress = reg.Server.Address };
                try { using var res = await http.GetAsync("/v2/"); return res.StatusCode; }
                catch (HttpRequestException) { return null; }
            }

            Assert.Null(await Get(null));
            Assert.Null(await Get(stranger));
            Assert.Equal(HttpStatusCode.OK, await Get(trusted));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Garbage_collection_sweeps_unreferenced_blobs_and_keeps_everything_a_manifest_needs()
    {
        await using var reg = await TestRegistry.StartAsync();
        var kept = await reg.PushImageAsync("app", "keep");
        var dropped = await reg.PushImageAsync("app", "drop");
        var orphan = await reg.PushBlobAsync("other", TestRegistry.RandomBytes(50));
        // An index whose only child is the kept image keeps that child alive through the index too.
        var child = await reg.Http.GetByteArrayAsync($"/v2/app/manifests/{kept.Manifest}");
        var index = $$"""{"schemaVersion":2,"mediaType":"{{ManifestInfo.OciIndex}}","manifests":[{"mediaType":"{{ManifestInfo.OciManifest}}","digest":"{{kept.Manifest}}","size":{{child.Length}}}]}""";
        using (var put = await reg.PutManifestAsync("app", "multi", index, ManifestInfo.OciIndex)) Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        using (var del = await reg.Http.DeleteAsync($"/v2/app/manifests/{dropped.Manifest}")) Assert.Equal(HttpStatusCode.Accepted, del.StatusCode);

        var storage = new Storage(Path.Combine(reg.Root, "data"));
        Digest D(string s) => Digest.Parse(s);

        // Blobs were just written: the default minimum age spares them all.
        var young = GarbageCollector.Run(storage, dryRun: false, TimeSpan.FromMinutes(10), TextWriter.Null);
        Assert.Equal(0, young.Swept);

        var dry = GarbageCollector.Run(storage, dryRun: true, TimeSpan.Zero, TextWriter.Null);
        Assert.Equal(4, dry.Swept); // dropped manifest, its config and layer, and the orphan
        Assert.NotNull(storage.BlobSize(D(orphan)));

        var real = GarbageCollector.Run(storage, dryRun: false, TimeSpan.Zero, TextWriter.Null);
        Assert.Equal(4, real.Swept);
        foreach (var gone in new[] { dropped.Manifest, dropped.Config, dropped.Layer, orphan })
            Assert.Null(storage.BlobSize(D(gone)));
        using (var res = await reg.Http.GetAsync($"/v2/other/blobs/{orphan}")) Assert.Equal(HttpStatusCode.NotFound, res.StatusCode);

        foreach (var blob in new[] { kept.Config, kept.Layer })
            using (var res = await reg.Http.GetAsync($"/v2/app/blobs/{blob}")) Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        foreach (var reference in new[] { "keep", "multi" })
            using (var res = await reg.Http.GetAsync($"/v2/app/manifests/{reference}")) Assert.Equal(HttpStatusCode.OK, res.StatusCode);
    }

    [Fact]
    public async Task Garbage_collection_leaves_uploads_in_progress_alone()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        var data = TestRegistry.RandomBytes(100);
        var patch = new HttpRequestMessage(HttpMethod.Patch, start.Headers.Location) { Content = new ByteArrayContent(data) };
        using (var res = await reg.Http.SendAsync(patch)) Assert.Equal(HttpStatusCode.Accepted, res.StatusCode);

        GarbageCollector.Run(new Storage(Path.Combine(reg.Root, "data")), dryRun: false, TimeSpan.Zero, TextWriter.Null);

        using var put = await reg.Http.PutAsync($"{start.Headers.Location}?digest={TestRegistry.DigestOf(data)}", null);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
    }

    [Fact]
    public async Task Garbage_collection_removes_uploads_abandoned_for_a_week()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        var uuid = start.Headers.GetValues("Docker-Upload-UUID").Single();
        var data = Path.Combine(reg.Root, "data", "uploads", uuid, "data");
        File.SetLastWriteTimeUtc(data, DateTime.UtcNow - GarbageCollector.AbandonedUploadAge - TimeSpan.FromHours(1));

        GarbageCollector.Run(new Storage(Path.Combine(reg.Root, "data")), dryRun: false, TimeSpan.Zero, TextWriter.Null);

        using var status = await reg.Http.GetAsync(start.Headers.Location);
        Assert.Equal(HttpStatusCode.NotFound, status.StatusCode);
        Assert.Equal("BLOB_UPLOAD_UNKNOWN", await TestRegistry.ErrorCodeOf(status));
    }
}
