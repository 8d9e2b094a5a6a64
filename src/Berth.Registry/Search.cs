using Berth.Api;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Berth.Registry.Auth;
using Berth.Registry.Distribution;
using Berth.Registry.Transport;

namespace Berth.Registry;

/// <summary>
/// <c>docker search</c>: the v1 search API (<c>GET /v1/search?q=&amp;n=</c>) on Docker Hub's index or on the
/// registry the term names (<c>localhost:5000/app</c>). Distribution registries don't offer it; that is
/// reported as such rather than as an empty result.
/// </summary>
public static class Search
{
    const string HubIndexHost = "index.docker.io";

    public static async Task<List<ImageSearchResult>> RunAsync(RegistryTransport transport, string term, int limit, AuthConfig auth, CancellationToken ct)
    {
        var (host, query) = Split(term);
        var baseUri = await transport.BaseUriAsync(host, ct).ConfigureAwait(false);
        var http = transport.ClientFor(baseUri.Authority);
        using var req = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri, $"/v1/search?q={Uri.EscapeDataString(query)}&n={limit}"));
        if (auth.Basic() is { } b)
            req.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(b.User + ":" + b.Password)));
        HttpResponseMessage resp;
        try { resp = await http.SendAsync(req, ct).ConfigureAwait(false); }
        catch (HttpRequestException e) { throw new RegistryException(RegistryErrorKind.Transient, $"searching {host}: {e.Message}", e); }
        using (resp)
        {
            if (resp.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented)
                throw new RegistryException(RegistryErrorKind.Unsupported, $"the registry {host} does not offer search (no /v1/search endpoint)");
            if (resp.StatusCode == HttpStatusCode.Unauthorized)
                throw new RegistryException(RegistryErrorKind.Unauthorized, $"unauthorized: searching {host} needs credentials");
            if (!resp.IsSuccessStatusCode)
                throw new RegistryException(RegistryErrorKind.Transient, $"searching {host} failed with status {(int)resp.StatusCode} {resp.ReasonPhrase}");
            try
            {
                var body = JsonSerializer.Deserialize(await resp.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false), RegistryJson.Default.SearchResults);
                return (body?.Results ?? []).Take(limit).ToList();
            }
            catch (JsonException e) { throw new RegistryException(RegistryErrorKind.Invalid, $"the registry {host} answered the search with invalid JSON: {e.Message}"); }
        }
    }

    /// <summary>Docker's split: a first component that looks like a host names the registry; the rest is the query.</summary>
    public static (string Host, string Query) Split(string term)
    {
        int slash = term.IndexOf('/');
        if (slash > 0)
        {
            var head = term[..slash];
            if (head.Contains('.') || head.Contains(':') || head == "localhost")
                return (head == "docker.io" || head == HubIndexHost ? HubIndexHost : head, term[(slash + 1)..]);
        }
        return (HubIndexHost, term);
    }
}
