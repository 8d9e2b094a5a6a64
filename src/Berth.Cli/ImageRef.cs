namespace Berth.Cli;

/// <summary>
/// Docker's reference normalisation, enough for the CLI: <c>busybox</c> is
/// <c>docker.io/library/busybox:latest</c>, displayed familiar as <c>busybox:latest</c>.
/// </summary>
public sealed record ImageRef(string Domain, string Path, string? Tag, string? Digest)
{
    public static ImageRef Parse(string s)
    {
        string? digest = null, tag = null;
        int at = s.IndexOf('@');
        if (at >= 0) { digest = s[(at + 1)..]; s = s[..at]; }
        int slash = s.LastIndexOf('/');
        int colon = s.LastIndexOf(':');
        if (colon > slash) { tag = s[(colon + 1)..]; s = s[..colon]; }
        string domain = "docker.io", path = s;
        int first = s.IndexOf('/');
        if (first >= 0)
        {
            var head = s[..first];
            if (head.Contains('.') || head.Contains(':') || head == "localhost") { domain = head; path = s[(first + 1)..]; }
        }
        if (domain == "docker.io" && !path.Contains('/')) path = "library/" + path;
        if (tag is null && digest is null) tag = "latest";
        return new ImageRef(domain, path, tag, digest);
    }

    /// <summary>The repository as the API's pull and tag calls want it: fully qualified.</summary>
    public string FullName => Domain + "/" + Path;

    public string FamiliarName => Domain == "docker.io" && Path.StartsWith("library/", StringComparison.Ordinal) ? Path[8..]
        : Domain == "docker.io" ? Path : FullName;

    public string FamiliarString => FamiliarName + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);
}
