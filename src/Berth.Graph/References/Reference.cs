using System.Text.RegularExpressions;

namespace Berth.Graph.References;

/// <summary>
/// An image reference in Docker's grammar (<c>[domain/]path[:tag][@digest]</c>), always held in normalised
/// form: the domain defaults to <c>docker.io</c> and single-component Hub names get <c>library/</c>.
/// <see cref="FamiliarString"/> gives the short form users see (<c>busybox:latest</c>).
/// </summary>
public sealed partial record Reference
{
    public const string DefaultDomain = "docker.io";
    public const string DefaultTag = "latest";
    const string LegacyDomain = "index.docker.io";
    const string OfficialRepoPrefix = "library/";
    const int NameTotalLengthMax = 255;

    /// <summary>Registry host with optional port, e.g. <c>docker.io</c>, <c>localhost:5000</c>.</summary>
    public string Domain { get; }
    /// <summary>Repository path inside the registry, e.g. <c>library/busybox</c>.</summary>
    public string Path { get; }
    public string? Tag { get; }
    /// <summary><c>algorithm:hex</c>, e.g. <c>sha256:…</c>.</summary>
    public string? Digest { get; }

    Reference(string domain, string path, string? tag, string? digest) =>
        (Domain, Path, Tag, Digest) = (domain, path, tag, digest);

    /// <summary>Fully-qualified repository name: <c>docker.io/library/busybox</c>.</summary>
    public string Name => Domain + "/" + Path;

    /// <summary>Repository name as users write it: <c>busybox</c>, <c>user/app</c>, <c>localhost:5000/app</c>.</summary>
    public string FamiliarName =>
        Domain != DefaultDomain ? Name
        : Path.StartsWith(OfficialRepoPrefix, StringComparison.Ordinal) && Path.IndexOf('/', OfficialRepoPrefix.Length) < 0
            ? Path[OfficialRepoPrefix.Length..]
            : Path;

    public string FamiliarString => FamiliarName + Suffix;

    public bool IsNameOnly => Tag is null && Digest is null;

    /// <summary>The same name with <c>:latest</c> when neither a tag nor a digest was given.</summary>
    public Reference WithDefaultTag() => IsNameOnly ? new Reference(Domain, Path, DefaultTag, null) : this;

    public Reference WithTag(string tag)
    {
        if (!TagRegex().IsMatch(tag)) throw new InvalidReferenceException($"invalid tag format: {tag}");
        return new Reference(Domain, Path, tag, null);
    }

    public Reference WithDigest(string digest)
    {
        if (!DigestRegex().IsMatch(digest)) throw new InvalidReferenceException($"invalid digest format: {digest}");
        return new Reference(Domain, Path, null, digest);
    }

    public Reference NameOnly() => new(Domain, Path, null, null);

    string Suffix => (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>Fully-qualified string form: <c>docker.io/library/busybox:latest</c>.</summary>
    public override string ToString() => Name + Suffix;

    /// <summary>Parses and normalises <paramref name="s"/>; throws <see cref="InvalidReferenceException"/>.</summary>
    public static Reference Parse(string s) =>
        TryParse(s, out var r, out var error) ? r : throw new InvalidReferenceException(error);

    public static bool TryParse(string s, out Reference result, out string error)
    {
        result = null!;
        var m = ReferenceRegex().Match(s);
        if (!m.Success)
        {
            error = s.Length > 0 && ReferenceRegex().IsMatch(s.ToLowerInvariant())
                ? $"invalid reference format: repository name ({s}) must be lowercase"
                : "invalid reference format";
            return false;
        }
        string name = m.Groups["name"].Value;
        if (name.Length > NameTotalLengthMax)
        {
            error = $"invalid reference format: repository name must not be more than {NameTotalLengthMax} characters";
            return false;
        }
        if (AnchoredHexIdRegex().IsMatch(name))
        {
            error = $"invalid repository name ({name}), cannot specify 64-byte hexadecimal strings";
            return false;
        }
        var (domain, path) = SplitDomain(name);
        if (path.Any(char.IsUpper))
        {
            error = $"invalid reference format: repository name ({path}) must be lowercase";
            return false;
        }
        var tag = m.Groups["tag"].Success ? m.Groups["tag"].Value : null;
        var digest = m.Groups["digest"].Success ? m.Groups["digest"].Value : null;
        result = new Reference(domain, path, tag, digest);
        error = "";
        return true;
    }

    /// <summary>
    /// Docker's rule: the first component is a registry host only when it looks like one (has a dot or a
    /// port, or is <c>localhost</c>, or has capitals, which repository paths never do).
    /// </summary>
    static (string Domain, string Path) SplitDomain(string name)
    {
        int i = name.IndexOf('/');
        string domain, path;
        if (i < 0 || (name.AsSpan(0, i).IndexOfAny('.', ':') < 0 && name[..i] != "localhost" && name[..i].ToLowerInvariant() == name[..i]))
            (domain, path) = (DefaultDomain, name);
        else
            (domain, path) = (name[..i], name[(i + 1)..]);
        if (domain == LegacyDomain) domain = DefaultDomain;
        if (domain == DefaultDomain && !path.Contains('/')) path = OfficialRepoPrefix + path;
        return (domain, path);
    }

    /// <summary>True for strings that are a full 64-hex image id (with or without <c>sha256:</c>).</summary>
    public static bool IsFullImageId(string s) => AnchoredHexIdRegex().IsMatch(s.StartsWith("sha256:", StringComparison.Ordinal) ? s[7..] : s);

    const string DomainComponent = @"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    const string DomainPattern = @"(?:" + DomainComponent + @"(?:\." + DomainComponent + @")*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?";
    const string PathComponent = @"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
    const string NamePattern = @"(?:" + DomainPattern + @"/)?" + PathComponent + @"(?:/" + PathComponent + @")*";
    const string TagPattern = @"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}";
    const string DigestPattern = @"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

    [GeneratedRegex("^(?<name>" + NamePattern + ")(?::(?<tag>" + TagPattern + "))?(?:@(?<digest>" + DigestPattern + "))?$", RegexOptions.CultureInvariant)]
    private static partial Regex ReferenceRegex();

    [GeneratedRegex("^" + TagPattern + "$", RegexOptions.CultureInvariant)]
    private static partial Regex TagRegex();

    [GeneratedRegex("^" + DigestPattern + "$", RegexOptions.CultureInvariant)]
    private static partial Regex DigestRegex();

    [GeneratedRegex("^[a-f0-9]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex AnchoredHexIdRegex();
}

/// <summary>A malformed image reference; its message is Docker's (<c>invalid reference format…</c>).</summary>
public sealed class InvalidReferenceException(string message) : ArgumentException(message);
