using System.Text.Json;
using Berth.Api;
using Berth.Daemon.Engine;
using Berth.Graph.References;
using Berth.Registry;
using Berth.Registry.Auth;
using Berth.Registry.Distribution;
using Berth.Registry.Pull;
using Berth.Registry.Push;
using Berth.Registry.Transport;

namespace Berth.Daemon.Registry;

/// <summary>
/// The registry jobs: pull (<c>image_create</c> with <c>fromImage</c>), <c>image_push</c>, <c>image_search</c>
/// and <c>auth</c>. The work is done by Berth.Registry; this maps requests, progress and errors onto the
/// Engine API as Docker does.
/// </summary>
public sealed class RegistryService(RegistryTransport transport, IImageStore store, EventBus events)
{
    readonly Puller _puller = new(transport, store);
    readonly Pusher _pusher = new(transport, store);

    /// <summary>POST /images/create?fromImage=…&amp;tag=…&amp;platform=…</summary>
    public async Task PullAsync(Job job)
    {
        var fromImage = job.Env.Get("fromImage")!;
        var tag = job.Env.Get("tag");
        Reference reference;
        try
        {
            reference = Reference.Parse(fromImage);
            // Neither a tag nor a digest: every tag, as dockerd does (docker pull --all-tags sends no tag).
            if (!string.IsNullOrEmpty(tag))
                reference = tag.Contains(':') ? reference.NameOnly().WithDigest(tag) : reference.NameOnly().WithTag(tag);
        }
        catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }
        Platform platform;
        try { platform = Platform.Parse(job.Env.Get("platform")); }
        catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }

        var progress = new ProgressWriter(job);
        Exception? failure = null;
        try
        {
            await _puller.PullAsync(reference, platform, AuthConfig.FromHeader(job.Env.Get("@auth")), progress.Report, job.Cancelled);
            events.Publish("image", "pull", reference.FamiliarString, new() { ["name"] = reference.FamiliarString });
        }
        catch (Exception e) { failure = Map(e); }
        await progress.CompleteAsync(failure);
    }

    /// <summary>POST /images/{name}/push?tag=…; without a tag (push --all-tags, docker-py's default) every local tag.</summary>
    public async Task PushAsync(Job job)
    {
        Reference reference;
        try
        {
            reference = Reference.Parse(job.Arg(0));
            if (job.Env.Get("tag") is { Length: > 0 } tag) reference = reference.NameOnly().WithTag(tag);
        }
        catch (ArgumentException e) { throw ApiException.BadRequest(e.Message); }

        var progress = new ProgressWriter(job);
        Exception? failure = null;
        try
        {
            var auth = AuthConfig.FromHeader(job.Env.Get("@auth"));
            var results = reference.IsNameOnly
                ? await _pusher.PushAllTagsAsync(reference, auth, progress.Report, job.Cancelled)
                : [await _pusher.PushAsync(reference, auth, progress.Report, job.Cancelled)];
            foreach (var result in results)
            {
                progress.Aux(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("Tag", result.Tag);
                    w.WriteString("Digest", result.Digest);
                    w.WriteNumber("Size", result.Size);
                    w.WriteEndObject();
                });
                var name = reference.NameOnly().WithTag(result.Tag).FamiliarString;
                events.Publish("image", "push", name, new() { ["name"] = name });
            }
        }
        catch (Exception e) { failure = Map(e); }
        await progress.CompleteAsync(failure);
    }

    /// <summary>GET /images/search?term=…&amp;limit=…&amp;filters=…</summary>
    public async Task SearchAsync(Job job)
    {
        var term = job.Env.Get("term");
        if (string.IsNullOrEmpty(term)) throw ApiException.BadRequest("the search term is required");
        int limit = job.Env.GetInt("limit") is int l and > 0 ? l : 25;
        if (limit > 100) throw ApiException.BadRequest($"limit {limit} is outside the range of [1, 100]");
        var filters = Filters.Parse(job.Env.Get("filters"));
        filters.Validate("is-official", "is-automated", "stars");
        List<ImageSearchResult> results;
        try { results = await Search.RunAsync(transport, term, limit, AuthConfig.FromHeader(job.Env.Get("@auth")), job.Cancelled); }
        catch (Exception e) { throw Map(e); }
        int minStars = filters.Get("stars").Select(s => int.TryParse(s, out var n) ? n : throw ApiException.BadRequest($"invalid filter 'stars={s}'")).DefaultIfEmpty(0).Max();
        results = results.Where(r =>
            r.StarCount >= minStars
            && filters.Match("is-official", v => (v is "true" or "1") == r.IsOfficial)
            && filters.Match("is-automated", v => (v is "true" or "1") == r.IsAutomated)).ToList();
        await job.Stdout.JsonAsync(200, results, ApiJson.Default.ListImageSearchResult);
    }

    /// <summary>POST /auth: checks the credentials against the registry, as docker login expects.</summary>
    public async Task AuthAsync(Job job)
    {
        AuthConfig config;
        try { config = await JsonSerializer.DeserializeAsync(job.Stdin, ApiJson.Default.AuthConfig, job.Cancelled) ?? AuthConfig.Anonymous; }
        catch (JsonException e) { throw ApiException.BadRequest($"invalid JSON: {e.Message}"); }
        var host = RegistryHost(config.ServerAddress);
        try { await RepositoryClient.LoginAsync(transport, host, config, job.Cancelled); }
        catch (RegistryException e) when (e.Kind is RegistryErrorKind.Unauthorized or RegistryErrorKind.Denied)
        {
            throw new ApiException(401, e.Message.StartsWith("login attempt", StringComparison.Ordinal) ? e.Message
                : $"login attempt to {(await transport.BaseUriAsync(host, job.Cancelled))}v2/ failed with status: 401 Unauthorized");
        }
        catch (Exception e) { throw Map(e); }
        await job.Stdout.JsonAsync(200, new AuthResponse { Status = "Login Succeeded", IdentityToken = "" }, ApiJson.Default.AuthResponse);
    }

    /// <summary>The host a login's server address names: Docker Hub for empty or the index URL, else the address without scheme and path.</summary>
    public static string RegistryHost(string? serverAddress)
    {
        if (string.IsNullOrWhiteSpace(serverAddress)) return RegistryTransport.DockerHubHost;
        var s = serverAddress.Trim();
        int scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) s = s[(scheme + 3)..];
        int slash = s.IndexOf('/');
        if (slash >= 0) s = s[..slash];
        return s is "index.docker.io" or "docker.io" ? RegistryTransport.DockerHubHost : s;
    }

    /// <summary>Docker's status codes for registry failures; the message stays the registry's.</summary>
    static Exception Map(Exception e) => e switch
    {
        RegistryException { Kind: RegistryErrorKind.NotFound } r => ApiException.NotFound(r.Message),
        RegistryException { Kind: RegistryErrorKind.Unauthorized } r => new ApiException(401, r.Message),
        RegistryException { Kind: RegistryErrorKind.Denied } r => ApiException.Forbidden(r.Message),
        RegistryException { Kind: RegistryErrorKind.Unsupported } r => ApiException.BadRequest(r.Message),
        RegistryException r => new ApiException(500, r.Message, r),
        _ => ApiException.From(e),
    };
}
