using Berth.Api;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Berth.Registry.Distribution;

namespace Berth.Registry.Auth;

/// <summary>
/// Authorises requests to one registry for a set of scopes: remembers the registry's challenge, fetches a
/// Bearer token for the scopes (with basic credentials, an identity token as OAuth refresh token, or
/// anonymously), and refreshes it when it expires or the registry refuses it. Basic-only registries get
/// the credentials on every request.
/// </summary>
public sealed class Authorizer(HttpClient http, AuthConfig credentials, IReadOnlyList<string> scopes)
{
    readonly SemaphoreSlim _gate = new(1, 1);
    Challenge? _challenge;
    string? _token;
    DateTimeOffset _expires;

    public AuthConfig Credentials => credentials;

    /// <summary>Records what a 401 said; the next <see cref="HeaderAsync"/> fetches a fresh token.</summary>
    public void OnUnauthorized(HttpResponseMessage response)
    {
        var header = response.Headers.WwwAuthenticate.FirstOrDefault();
        var challenge = header is null ? null : Challenge.Parse(header.Scheme + " " + header.Parameter);
        lock (this)
        {
            if (challenge is not null) _challenge = challenge;
            _token = null;
        }
    }

    public bool HasChallenge => _challenge is not null;

    public async Task<AuthenticationHeaderValue?> HeaderAsync(CancellationToken ct)
    {
        var challenge = _challenge;
        if (challenge is null)
            return credentials.RegistryToken is { Length: > 0 } rt ? new AuthenticationHeaderValue("Bearer", rt) : null;
        if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
            return credentials.Basic() is { } b ? BasicHeader(b.User, b.Password) : null;
        if (!challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase)) return null;
        if (credentials.RegistryToken is { Length: > 0 } registryToken) return new AuthenticationHeaderValue("Bearer", registryToken);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_token is null || DateTimeOffset.UtcNow >= _expires)
                (_token, _expires) = await FetchTokenAsync(challenge, ct).ConfigureAwait(false);
            return new AuthenticationHeaderValue("Bearer", _token);
        }
        finally { _gate.Release(); }
    }

    static AuthenticationHeaderValue BasicHeader(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));

    async Task<(string, DateTimeOffset)> FetchTokenAsync(Challenge challenge, CancellationToken ct)
    {
        var realm = challenge["realm"] ?? throw new RegistryException(RegistryErrorKind.Invalid, "the registry's Bearer challenge has no realm");
        var service = challenge["service"];
        var allScopes = scopes.Concat((challenge["scope"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)).Distinct().ToList();
        HttpRequestMessage req;
        if (credentials.IdentityToken is { Length: > 0 } refresh)
        {
            // An identity token is an OAuth2 refresh token (what docker login stored for this registry).
            var form = new List<KeyValuePair<string, string>>
            {
                new("grant_type", "refresh_token"), new("refresh_token", refresh), new("client_id", "berth"),
                new("scope", string.Join(' ', allScopes)),
            };
            if (service is not null) form.Add(new("service", service));
            req = new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
        }
        else
        {
            var q = new StringBuilder(realm).Append(realm.Contains('?') ? '&' : '?');
            if (service is not null) q.Append("service=").Append(Uri.EscapeDataString(service)).Append('&');
            foreach (var s in allScopes) q.Append("scope=").Append(Uri.EscapeDataString(s)).Append('&');
            q.Append("client_id=berth");
            req = new HttpRequestMessage(HttpMethod.Get, q.ToString());
            if (credentials.Basic() is { } b) req.Headers.Authorization = BasicHeader(b.User, b.Password);
        }
        using (req)
        using (var resp = await http.SendAsync(req, ct).ConfigureAwait(false))
        {
            if (resp.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new RegistryException(RegistryErrorKind.Unauthorized, "unauthorized: incorrect username or password");
            if (!resp.IsSuccessStatusCode)
                throw new RegistryException(RegistryErrorKind.Transient, $"fetching a token from {realm} failed with status {(int)resp.StatusCode} {resp.ReasonPhrase}");
            TokenResponse? t;
            try { t = JsonSerializer.Deserialize(await resp.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false), RegistryJson.Default.TokenResponse); }
            catch (JsonException e) { throw new RegistryException(RegistryErrorKind.Invalid, $"the token server {realm} answered with invalid JSON: {e.Message}"); }
            var token = t?.Token is { Length: > 0 } tok ? tok : t?.AccessToken;
            if (string.IsNullOrEmpty(token)) throw new RegistryException(RegistryErrorKind.Invalid, $"the token server {realm} answered without a token");
            // Renew a little early so a request never goes out with a token that expires in flight.
            int lifetime = t!.ExpiresIn >= 60 ? t.ExpiresIn : 60;
            return (token, DateTimeOffset.UtcNow.AddSeconds(lifetime - 10));
        }
    }
}
