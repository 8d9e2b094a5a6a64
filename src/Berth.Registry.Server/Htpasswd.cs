using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Berth.Registry.Server;

/// <summary>
/// Basic auth against an htpasswd file of bcrypt entries (<c>htpasswd -B</c>). bcrypt is slow on
/// purpose, and a docker push sends dozens of requests with the same credentials, so a verified
/// pair is remembered, keyed by a SHA-256 of user, password and stored hash (a changed file or
/// password never matches an old entry).
/// </summary>
public sealed class Htpasswd
{
    readonly Dictionary<string, string> _hashes;
    readonly ConcurrentDictionary<string, bool> _verified = new(StringComparer.Ordinal);

    Htpasswd(Dictionary<string, string> hashes) => _hashes = hashes;

    public static Htpasswd Load(string path)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int colon = line.IndexOf(':');
            if (colon <= 0) throw new FormatException($"{path}: malformed line (want user:hash)");
            var hash = line[(colon + 1)..];
            if (!hash.StartsWith("$2")) throw new FormatException($"{path}: user {line[..colon]} has a non-bcrypt hash; only bcrypt (htpasswd -B) is accepted");
            hashes[line[..colon]] = hash;
        }
        return new Htpasswd(hashes);
    }

    /// <summary>Checks an Authorization header value; true for a known user with the right password.</summary>
    public bool Check(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        string decoded;
        try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim())); }
        catch (FormatException) { return false; }
        int colon = decoded.IndexOf(':');
        if (colon <= 0) return false;
        var user = decoded[..colon];
        var password = decoded[(colon + 1)..];
        if (!_hashes.TryGetValue(user, out var hash)) return false;
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(user + "\0" + password + "\0" + hash)));
        if (_verified.TryGetValue(key, out var ok)) return ok;
        ok = BCrypt.Net.BCrypt.Verify(password, hash);
        // Only successes are remembered: caching failures would let a guesser grow the table.
        if (ok) _verified[key] = true;
        return ok;
    }
}
