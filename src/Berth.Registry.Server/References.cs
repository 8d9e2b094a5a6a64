using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Berth.Registry.Server;

/// <summary>
/// Validation of repository names, tags and digests. Everything that later becomes part of a
/// file path passes through here first, so a name, reference or digest can never climb out of
/// the storage root: the grammars admit no '/'-led, '.'-only or '..' components.
/// </summary>
public static partial class References
{
    /// <summary>distribution caps a full name at 255 characters; the spec leaves the limit to registries.</summary>
    public const int MaxNameLength = 255;

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex NameRegex();

    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")]
    private static partial Regex TagRegex();

    public static bool IsValidName(string name) => name.Length <= MaxNameLength && NameRegex().IsMatch(name);

    public static bool IsTag(string reference) => TagRegex().IsMatch(reference);

    public static void CheckName(string name)
    {
        if (!IsValidName(name))
            throw new RegistryException(ErrorCode.NameInvalid, name.Length > MaxNameLength ? $"name longer than {MaxNameLength} characters" : name);
    }
}

/// <summary>A content digest "algorithm:hex" with an algorithm this registry can verify.</summary>
public readonly record struct Digest(string Algorithm, string Hex)
{
    public override string ToString() => Algorithm + ":" + Hex;

    public static bool TryParse(string s, out Digest digest)
    {
        digest = default;
        int colon = s.IndexOf(':');
        if (colon <= 0) return false;
        var alg = s[..colon];
        var hex = s[(colon + 1)..];
        int len = alg switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (len < 0 || hex.Length != len) return false;
        foreach (var ch in hex)
            if (!char.IsAsciiDigit(ch) && ch is not (>= 'a' and <= 'f')) return false;
        digest = new Digest(alg, hex);
        return true;
    }

    public static Digest Parse(string s) =>
        TryParse(s, out var d) ? d : throw new RegistryException(ErrorCode.DigestInvalid, s, "invalid digest");

    public IncrementalHash NewHash() =>
        IncrementalHash.CreateHash(Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    public bool Matches(IncrementalHash hash) => Convert.ToHexStringLower(hash.GetHashAndReset()) == Hex;

    public static Digest Sha256Of(ReadOnlySpan<byte> data) => new("sha256", Convert.ToHexStringLower(SHA256.HashData(data)));
}
