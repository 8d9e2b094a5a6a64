using Xunit;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Berth.Registry.Server.Tests;

/// <summary>The OCI distribution 1.1 endpoints and error codes, over HTTP against an in-process server.</summary>
public sealed class DistributionApiTests
{
    [Fact]
    public async Task Base_endpoint_answers_200_with_the_api_version_header()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var res = await reg.Http.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal("registry/2.0", res.Headers.GetValues("Docker-Distribution-API-Version").Single());
    }

    [Fact]
    public async Task Monolithic_blob_push_is_served_whole_and_by_range()
    {
        await using var reg = await TestRegistry.StartAsync();
        var data = TestRegistry.RandomBytes(5000);
        var digest = await reg.PushBlobAsync("lib/app", data);

        using var head = await reg.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/lib/app/blobs/{digest}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(5000, head.Content.Headers.ContentLength);
        Assert.Equal(digest, head.Headers.GetValues("Docker-Content-Digest").Single());

        Assert.Equal(data, await reg.Http.GetByteArrayAsync($"/v2/lib/app/blobs/{digest}"));

        var req = new HttpRequestMessage(HttpMethod.Get, $"/v2/lib/app/blobs/{digest}");
        req.Headers.Range = new RangeHeaderValue(1000, 1999);
        using var part = await reg.Http.SendAsync(req);
        Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
        Assert.Equal("bytes 1000-1999/5000", part.Content.Headers.ContentRange!.ToString());
        Assert.Equal(data[1000..2000], await part.Content.ReadAsByteArrayAsync());

        var bad = new HttpRequestMessage(HttpMethod.Get, $"/v2/lib/app/blobs/{digest}");
        bad.Headers.Range = new RangeHeaderValue(6000, null);
        using var unsatisfiable = await reg.Http.SendAsync(bad);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);
    }

    [Fact]
    public async Task Blob_is_unknown_in_a_repository_it_was_not_pushed_to()
    {
        await using var reg = await TestRegistry.StartAsync();
        var digest = await reg.PushBlobAsync("a", "x"u8.ToArray());
        using var res = await reg.Http.GetAsync($"/v2/b/blobs/{digest}");
        Assert.Equal(HttpStatusCode.NotFound, res.StatusCode);
        Assert.Equal("BLOB_UNKNOWN", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Post_then_put_upload_stores_the_blob()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        Assert.NotEmpty(start.Headers.GetValues("Docker-Upload-UUID").Single());
        Assert.Equal("0-0", start.Headers.GetValues("Range").Single());
        var data = TestRegistry.RandomBytes(3000);
        var location = start.Headers.Location!.ToString();
        using var put = await reg.Http.PutAsync($"{location}?digest={TestRegistry.DigestOf(data)}", new ByteArrayContent(data));
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal($"/v2/r/blobs/{TestRegistry.DigestOf(data)}", put.Headers.Location!.ToString());
        Assert.Equal(data, await reg.Http.GetByteArrayAsync(put.Headers.Location));
    }

    [Fact]
    public async Task Chunked_upload_accepts_chunks_in_order_and_refuses_out_of_order_with_416()
    {
        await using var reg = await TestRegistry.StartAsync();
        var data = TestRegistry.RandomBytes(10_000);
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        var location = start.Headers.Location!.ToString();

        async Task<HttpResponseMessage> Patch(int from, int to)
        {
            var content = new ByteArrayContent(data[from..(to + 1)]);
            var req = new HttpRequestMessage(HttpMethod.Patch, location) { Content = content };
            req.Content.Headers.TryAddWithoutValidation("Content-Range", $"{from}-{to}");
            return await reg.Http.SendAsync(req);
        }

        using (var first = await Patch(0, 3999))
        {
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
            Assert.Equal("0-3999", first.Headers.GetValues("Range").Single());
        }
        using (var skipped = await Patch(5000, 9999))
        {
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, skipped.StatusCode);
            Assert.Equal("0-3999", skipped.Headers.GetValues("Range").Single());
        }
        using (var status = await reg.Http.GetAsync(location))
        {
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal("0-3999", status.Headers.GetValues("Range").Single());
        }
        using (var second = await Patch(4000, 9999)) Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        using var put = await reg.Http.PutAsync($"{location}?digest={TestRegistry.DigestOf(data)}", null);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(data, await reg.Http.GetByteArrayAsync($"/v2/r/blobs/{TestRegistry.DigestOf(data)}"));
    }

    [Fact]
    public async Task Upload_whose_digest_differs_is_refused_and_leaves_nothing_behind()
    {
        await using var reg = await TestRegistry.StartAsync();
        var claimed = TestRegistry.DigestOf("something else"u8.ToArray());
        using var res = await reg.Http.PostAsync($"/v2/r/blobs/uploads/?digest={claimed}", new ByteArrayContent("content"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("DIGEST_INVALID", await TestRegistry.ErrorCodeOf(res));
        using var get = await reg.Http.GetAsync($"/v2/r/blobs/{claimed}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(reg.Root, "data", "uploads")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(reg.Root, "data", "blobs"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Upload_session_can_be_cancelled_and_is_then_unknown()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        var location = start.Headers.Location!.ToString();
        using (var del = await reg.Http.DeleteAsync(location)) Assert.Equal(HttpStatusCode.NoContent, del.StatusCode);
        using var again = await reg.Http.GetAsync(location);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("BLOB_UPLOAD_UNKNOWN", await TestRegistry.ErrorCodeOf(again));
        using var bogus = await reg.Http.GetAsync("/v2/r/blobs/uploads/..%2F..%2Fetc");
        Assert.Equal(HttpStatusCode.NotFound, bogus.StatusCode);
    }

    [Fact]
    public async Task Chunk_with_malformed_content_range_is_BLOB_UPLOAD_INVALID()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        var req = new HttpRequestMessage(HttpMethod.Patch, start.Headers.Location) { Content = new ByteArrayContent("abc"u8.ToArray()) };
        req.Content.Headers.TryAddWithoutValidation("Content-Range", "garbage");
        using var res = await reg.Http.SendAsync(req);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("BLOB_UPLOAD_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Chunk_whose_content_range_disagrees_with_its_length_is_SIZE_INVALID()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        var req = new HttpRequestMessage(HttpMethod.Patch, start.Headers.Location) { Content = new ByteArrayContent("abc"u8.ToArray()) };
        req.Content.Headers.TryAddWithoutValidation("Content-Range", "0-9");
        using var res = await reg.Http.SendAsync(req);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("SIZE_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Cross_repository_mount_links_an_existing_blob_and_falls_back_to_an_upload_otherwise()
    {
        await using var reg = await TestRegistry.StartAsync();
        var digest = await reg.PushBlobAsync("src/repo", TestRegistry.RandomBytes(100));
        using var mounted = await reg.Http.PostAsync($"/v2/dst/repo/blobs/uploads/?mount={digest}&from=src/repo", null);
        Assert.Equal(HttpStatusCode.Created, mounted.StatusCode);
        Assert.Equal(digest, mounted.Headers.GetValues("Docker-Content-Digest").Single());
        using (var head = await reg.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/dst/repo/blobs/{digest}")))
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);

        using var fallback = await reg.Http.PostAsync($"/v2/dst/repo/blobs/uploads/?mount={digest}&from=nowhere", null);
        Assert.Equal(HttpStatusCode.Accepted, fallback.StatusCode);
        Assert.NotEmpty(fallback.Headers.GetValues("Docker-Upload-UUID").Single());
    }

    [Fact]
    public async Task Manifest_push_by_tag_is_served_by_tag_and_digest_with_its_media_type()
    {
        await using var reg = await TestRegistry.StartAsync();
        var (digest, _, _) = await reg.PushImageAsync("lib/img", "v1");
        foreach (var reference in new[] { "v1", digest })
        {
            using var res = await reg.Http.GetAsync($"/v2/lib/img/manifests/{reference}");
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.Equal(ManifestInfo.OciManifest, res.Content.Headers.ContentType!.MediaType);
            Assert.Equal(digest, res.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal(digest, TestRegistry.DigestOf(await res.Content.ReadAsByteArrayAsync()));
        }
        using var head = await reg.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v2/lib/img/manifests/v1"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.True(head.Content.Headers.ContentLength > 0);
        using var missing = await reg.Http.GetAsync("/v2/lib/img/manifests/v2");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("MANIFEST_UNKNOWN", await TestRegistry.ErrorCodeOf(missing));
    }

    [Fact]
    public async Task Docker_schema2_manifest_and_manifest_list_are_stored_verbatim()
    {
        await using var reg = await TestRegistry.StartAsync();
        var layer = await reg.PushBlobAsync("d", TestRegistry.RandomBytes(10));
        var config = await reg.PushBlobAsync("d", "{}"u8.ToArray());
        var manifest = $$"""
            {
               "schemaVersion": 2,
               "mediaType": "{{ManifestInfo.DockerManifest}}",
               "config": {"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"{{config}}"},
               "layers": [{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":10,"digest":"{{layer}}"}]
            }
            """;
        using (var put = await reg.PutManifestAsync("d", "img", manifest, ManifestInfo.DockerManifest)) Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        var md = TestRegistry.DigestOf(Encoding.UTF8.GetBytes(manifest));
        var list = $$$"""{"schemaVersion":2,"mediaType":"{{{ManifestInfo.DockerList}}}","manifests":[{"mediaType":"{{{ManifestInfo.DockerManifest}}}","digest":"{{{md}}}","size":{{{manifest.Length}}},"platform":{"architecture":"amd64","os":"linux"}}]}""";
        using (var put = await reg.PutManifestAsync("d", "multi", list, ManifestInfo.DockerList)) Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        using var get = await reg.Http.GetAsync("/v2/d/manifests/multi");
        Assert.Equal(ManifestInfo.DockerList, get.Content.Headers.ContentType!.MediaType);
        Assert.Equal(list, await get.Content.ReadAsStringAsync());
        using var img = await reg.Http.GetAsync("/v2/d/manifests/img");
        Assert.Equal(manifest, await img.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Manifest_referencing_an_unknown_blob_or_child_is_MANIFEST_BLOB_UNKNOWN()
    {
        await using var reg = await TestRegistry.StartAsync();
        var config = await reg.PushBlobAsync("r", "{}"u8.ToArray());
        var absent = TestRegistry.DigestOf("absent"u8.ToArray());
        using var res = await reg.PutManifestAsync("r", "t", TestRegistry.ImageManifest(config, absent), ManifestInfo.OciManifest);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("MANIFEST_BLOB_UNKNOWN", await TestRegistry.ErrorCodeOf(res));

        var index = $$"""{"schemaVersion":2,"mediaType":"{{ManifestInfo.OciIndex}}","manifests":[{"mediaType":"{{ManifestInfo.OciManifest}}","digest":"{{absent}}","size":1}]}""";
        using var idx = await reg.PutManifestAsync("r", "i", index, ManifestInfo.OciIndex);
        Assert.Equal("MANIFEST_BLOB_UNKNOWN", await TestRegistry.ErrorCodeOf(idx));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}""")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}""")]
    public async Task Malformed_or_schema1_manifest_is_MANIFEST_INVALID(string body)
    {
        await using var reg = await TestRegistry.StartAsync();
        using var res = await reg.PutManifestAsync("r", "t", body, ManifestInfo.OciManifest);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("MANIFEST_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Manifest_put_by_a_digest_that_differs_is_DIGEST_INVALID()
    {
        await using var reg = await TestRegistry.StartAsync();
        var layer = await reg.PushBlobAsync("r", "l"u8.ToArray());
        var config = await reg.PushBlobAsync("r", "c"u8.ToArray());
        using var res = await reg.PutManifestAsync("r", TestRegistry.DigestOf("other"u8.ToArray()), TestRegistry.ImageManifest(config, layer), ManifestInfo.OciManifest);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("DIGEST_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Manifest_over_4_MiB_is_refused_with_413()
    {
        await using var reg = await TestRegistry.StartAsync();
        var huge = "{\"schemaVersion\":2,\"x\":\"" + new string('a', RegistryApi.MaxManifestBytes) + "\"}";
        using var res = await reg.PutManifestAsync("r", "t", huge, ManifestInfo.OciManifest);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, res.StatusCode);
        Assert.Equal("SIZE_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Theory]
    [InlineData("/v2/UPPER/tags/list")]
    [InlineData("/v2/a/../b/tags/list")]
    [InlineData("/v2/-lead/tags/list")]
    [InlineData("/v2/a//b/tags/list")]
    [InlineData("/v2/a/_layers/tags/list")]
    public async Task Invalid_repository_name_is_NAME_INVALID(string path)
    {
        await using var reg = await TestRegistry.StartAsync();
        using var res = await reg.Http.GetAsync(new Uri(path, UriKind.Relative));
        // ".." is folded away by the client or the server before routing; it must never reach a file path.
        Assert.True(res.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{path}: {res.StatusCode}");
        if (res.StatusCode == HttpStatusCode.BadRequest) Assert.Equal("NAME_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Over_long_name_is_NAME_INVALID()
    {
        await using var reg = await TestRegistry.StartAsync();
        var name = string.Join('/', Enumerable.Repeat("abcdefghij", 26));
        using var res = await reg.Http.PostAsync($"/v2/{name}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("NAME_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Theory]
    [InlineData("..%2F..%2Fetc%2Fpasswd")]
    [InlineData("sha256:..")]
    [InlineData("-bad")]
    public async Task Traversal_or_invalid_reference_is_refused(string reference)
    {
        await using var reg = await TestRegistry.StartAsync();
        using var res = await reg.PutManifestAsync("r", reference, "{}", ManifestInfo.OciManifest);
        Assert.True(res.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, res.StatusCode.ToString());
        Assert.Contains(await TestRegistry.ErrorCodeOf(res), new[] { "MANIFEST_INVALID", "NAME_INVALID", "NAME_UNKNOWN" });
        Assert.False(File.Exists(Path.Combine(reg.Root, "etc", "passwd")));
    }

    [Fact]
    public async Task Blob_with_invalid_digest_is_DIGEST_INVALID()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var res = await reg.Http.GetAsync("/v2/r/blobs/sha256:1234");
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("DIGEST_INVALID", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Tag_list_paginates_with_n_and_last_and_a_Link_header()
    {
        await using var reg = await TestRegistry.StartAsync();
        var (digest, _, _) = await reg.PushImageAsync("p", "a");
        var manifest = await reg.Http.GetStringAsync($"/v2/p/manifests/{digest}");
        foreach (var tag in new[] { "b", "c", "d", "e" })
            using (var put = await reg.PutManifestAsync("p", tag, manifest, ManifestInfo.OciManifest)) Assert.Equal(HttpStatusCode.Created, put.StatusCode);

        var seen = new List<string>();
        string? next = "/v2/p/tags/list?n=2";
        int pages = 0;
        while (next is not null)
        {
            using var res = await reg.Http.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            using var doc = JsonDocument.Parse(await res.Content.ReadAsStringAsync());
            Assert.Equal("p", doc.RootElement.GetProperty("name").GetString());
            var tags = doc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToList();
            Assert.True(tags.Count <= 2);
            seen.AddRange(tags);
            next = res.Headers.TryGetValues("Link", out var link) ? link.Single().Split('<', '>')[1] : null;
            pages++;
        }
        Assert.Equal(new[] { "a", "b", "c", "d", "e" }, seen);
        Assert.Equal(3, pages);

        using var unknown = await reg.Http.GetAsync("/v2/nope/tags/list");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("NAME_UNKNOWN", await TestRegistry.ErrorCodeOf(unknown));
    }

    [Fact]
    public async Task Catalog_lists_nested_repositories_with_pagination()
    {
        await using var reg = await TestRegistry.StartAsync();
        foreach (var name in new[] { "zeta", "alpha/one", "alpha/one/two", "beta" })
            await reg.PushImageAsync(name, "latest");
        using var all = JsonDocument.Parse(await reg.Http.GetStringAsync("/v2/_catalog"));
        Assert.Equal(new[] { "alpha/one", "alpha/one/two", "beta", "zeta" },
            all.RootElement.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()));
        using var page = await reg.Http.GetAsync("/v2/_catalog?n=2&last=alpha/one");
        using var doc = JsonDocument.Parse(await page.Content.ReadAsStringAsync());
        Assert.Equal(new[] { "alpha/one/two", "beta" }, doc.RootElement.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()));
        Assert.Contains("last=beta", page.Headers.GetValues("Link").Single());
    }

    [Fact]
    public async Task Deleting_a_manifest_removes_it_and_its_tags_and_deleting_a_tag_keeps_the_manifest()
    {
        await using var reg = await TestRegistry.StartAsync();
        var (digest, _, layer) = await reg.PushImageAsync("r", "one");
        var manifest = await reg.Http.GetStringAsync($"/v2/r/manifests/{digest}");
        using (await reg.PutManifestAsync("r", "two", manifest, ManifestInfo.OciManifest)) { }

        using (var del = await reg.Http.DeleteAsync("/v2/r/manifests/two")) Assert.Equal(HttpStatusCode.Accepted, del.StatusCode);
        using (var byDigest = await reg.Http.GetAsync($"/v2/r/manifests/{digest}")) Assert.Equal(HttpStatusCode.OK, byDigest.StatusCode);

        using (var del = await reg.Http.DeleteAsync($"/v2/r/manifests/{digest}")) Assert.Equal(HttpStatusCode.Accepted, del.StatusCode);
        using (var gone = await reg.Http.GetAsync("/v2/r/manifests/one")) Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using (var again = await reg.Http.DeleteAsync($"/v2/r/manifests/{digest}"))
            Assert.Equal("MANIFEST_UNKNOWN", await TestRegistry.ErrorCodeOf(again));

        using (var delBlob = await reg.Http.DeleteAsync($"/v2/r/blobs/{layer}")) Assert.Equal(HttpStatusCode.Accepted, delBlob.StatusCode);
        using var blob = await reg.Http.GetAsync($"/v2/r/blobs/{layer}");
        Assert.Equal("BLOB_UNKNOWN", await TestRegistry.ErrorCodeOf(blob));
    }

    [Fact]
    public async Task Referrers_lists_manifests_whose_subject_is_the_digest_with_artifactType_filter()
    {
        await using var reg = await TestRegistry.StartAsync();
        var (subject, _, _) = await reg.PushImageAsync("r", "app");
        var subjectDesc = $$""","subject":{"mediaType":"{{ManifestInfo.OciManifest}}","digest":"{{subject}}","size":100}""";
        var pushed = new Dictionary<string, string>();
        foreach (var type in new[] { "application/vnd.example.sbom", "application/vnd.example.signature" })
        {
            var config = await reg.PushBlobAsync("r", "{}"u8.ToArray());
            var layer = await reg.PushBlobAsync("r", Encoding.UTF8.GetBytes(type));
            var json = TestRegistry.ImageManifest(config, layer, $"{subjectDesc},\"annotations\":{{\"kind\":\"{type}\"}}", configType: type);
            using var put = await reg.PutManifestAsync("r", TestRegistry.DigestOf(Encoding.UTF8.GetBytes(json)), json, ManifestInfo.OciManifest);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(subject, put.Headers.GetValues("OCI-Subject").Single());
            pushed[type] = TestRegistry.DigestOf(Encoding.UTF8.GetBytes(json));
        }

        using var all = await reg.Http.GetAsync($"/v2/r/referrers/{subject}");
        Assert.Equal(HttpStatusCode.OK, all.StatusCode);
        Assert.Equal(ManifestInfo.OciIndex, all.Content.Headers.ContentType!.MediaType);
        using (var doc = JsonDocument.Parse(await all.Content.ReadAsStringAsync()))
        {
            var entries = doc.RootElement.GetProperty("manifests").EnumerateArray().ToList();
            Assert.Equal(2, entries.Count);
            Assert.Equal(pushed.Values.Order(StringComparer.Ordinal), entries.Select(e => e.GetProperty("digest").GetString()).Order(StringComparer.Ordinal));
            Assert.All(entries, e => Assert.Equal(e.GetProperty("artifactType").GetString(), e.GetProperty("annotations").GetProperty("kind").GetString()));
        }

        using var filtered = await reg.Http.GetAsync($"/v2/r/referrers/{subject}?artifactType=application/vnd.example.sbom");
        Assert.Equal("artifactType", filtered.Headers.GetValues("OCI-Filters-Applied").Single());
        using (var doc = JsonDocument.Parse(await filtered.Content.ReadAsStringAsync()))
            Assert.Equal(pushed["application/vnd.example.sbom"], doc.RootElement.GetProperty("manifests").EnumerateArray().Single().GetProperty("digest").GetString());

        using (await reg.Http.DeleteAsync($"/v2/r/manifests/{pushed["application/vnd.example.sbom"]}")) { }
        using (var doc = JsonDocument.Parse(await reg.Http.GetStringAsync($"/v2/r/referrers/{subject}")))
            Assert.Single(doc.RootElement.GetProperty("manifests").EnumerateArray());

        using var none = await reg.Http.GetAsync($"/v2/r/referrers/{TestRegistry.DigestOf("x"u8.ToArray())}");
        Assert.Equal(HttpStatusCode.OK, none.StatusCode);
        using (var doc = JsonDocument.Parse(await none.Content.ReadAsStringAsync()))
            Assert.Empty(doc.RootElement.GetProperty("manifests").EnumerateArray());
    }

    [Fact]
    public async Task Unsupported_method_is_UNSUPPORTED_405()
    {
        await using var reg = await TestRegistry.StartAsync();
        using var res = await reg.Http.PostAsync("/v2/r/manifests/latest", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, res.StatusCode);
        Assert.Equal("UNSUPPORTED", await TestRegistry.ErrorCodeOf(res));
    }

    [Fact]
    public async Task Read_only_registry_serves_pulls_and_denies_pushes_with_DENIED()
    {
        await using var reg = await TestRegistry.StartAsync(o => o with { ReadOnly = true });
        using var res = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Forbidden, res.StatusCode);
        Assert.Equal("DENIED", await TestRegistry.ErrorCodeOf(res));
        using var ping = await reg.Http.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
    }

    [Fact]
    public async Task Requests_beyond_the_concurrency_limit_get_TOOMANYREQUESTS()
    {
        await using var reg = await TestRegistry.StartAsync(o => o with { MaxConcurrentRequests = 1 });
        using var start = await reg.Http.PostAsync("/v2/r/blobs/uploads/", null);
        // A PATCH that promises ten bytes and sends one holds the only slot while its socket is open.
        using (var held = new System.Net.Sockets.TcpClient())
        {
            await held.ConnectAsync(reg.Server.Address.Host, reg.Server.Address.Port);
            var stream = held.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"PATCH {start.Headers.Location} HTTP/1.1\r\nHost: r\r\nContent-Length: 10\r\n\r\nA"));
            await stream.FlushAsync();
            HttpResponseMessage? refused = null;
            // The server sees the held request asynchronously; on a loaded machine that can take a while.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (refused is null && DateTime.UtcNow < deadline)
            {
                var res = await reg.Http.GetAsync("/v2/");
                if (res.StatusCode == HttpStatusCode.TooManyRequests) refused = res;
                else { res.Dispose(); await Task.Delay(50); }
            }
            Assert.NotNull(refused);
            Assert.Equal("TOOMANYREQUESTS", await TestRegistry.ErrorCodeOf(refused));
            Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
            refused.Dispose();
        }
        // Once the client is gone its slot is free again.
        HttpStatusCode status = default;
        var until = DateTime.UtcNow.AddSeconds(30);
        while (status != HttpStatusCode.OK && DateTime.UtcNow < until)
        {
            using var res = await reg.Http.GetAsync("/v2/");
            status = res.StatusCode;
            if (status != HttpStatusCode.OK) await Task.Delay(50);
        }
        Assert.Equal(HttpStatusCode.OK, status);
    }
}
