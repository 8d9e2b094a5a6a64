using System.Net;

namespace Berth.Registry.Transport;

/// <summary>The daemon's registry settings: dockerd's <c>--insecure-registry</c>, <c>--registry-mirror</c> and concurrency flags.</summary>
public sealed record RegistryOptions
{
    /// <summary>Hosts (<c>host[:port]</c>) or CIDRs allowed over plain HTTP or unverified TLS.</summary>
    public List<string> InsecureRegistries { get; set; } = new();
    /// <summary>Mirror base URLs tried first for docker.io pulls.</summary>
    public List<Uri> Mirrors { get; set; } = new();
    public string CertsDir { get; set; } = "/etc/berth/certs.d";
    public int MaxConcurrentDownloads { get; set; } = 3;
    public int MaxConcurrentUploads { get; set; } = 5;
    /// <summary>Attempts per blob transfer before giving up; a dropped download resumes with Range.</summary>
    public int MaxAttempts { get; set; } = 5;
    /// <summary>First retry delay; doubled per attempt.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Uploads larger than this go in PATCH chunks of this size; smaller ones in one monolithic PUT.</summary>
    public long ChunkSize { get; set; } = 64L << 20;
    /// <summary>Where pulls spool blobs while they download; on the data root so a rename-free import stays on one filesystem.</summary>
    public string TempDir { get; set; } = Path.GetTempPath();

    /// <summary>
    /// Docker's rule: loopback registries and the ones named by <c>--insecure-registry</c> (by host:port,
    /// host, or an IP range holding the host's address) may use plain HTTP.
    /// </summary>
    public bool IsInsecure(string host)
    {
        var (name, _) = SplitPort(host);
        if (name == "localhost" || (IPAddress.TryParse(name.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip))) return true;
        foreach (var entry in InsecureRegistries)
        {
            if (string.Equals(entry, host, StringComparison.OrdinalIgnoreCase) || string.Equals(entry, name, StringComparison.OrdinalIgnoreCase)) return true;
            if (entry.Contains('/') && IPNetwork.TryParse(entry, out var net) && IPAddress.TryParse(name.Trim('[', ']'), out var addr) && net.Contains(addr)) return true;
        }
        return false;
    }

    static (string Name, string? Port) SplitPort(string host)
    {
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']');
            return close < 0 ? (host, null) : (host[..(close + 1)], close + 2 <= host.Length - 1 ? host[(close + 2)..] : null);
        }
        int colon = host.LastIndexOf(':');
        return colon > 0 && host.IndexOf(':') == colon ? (host[..colon], host[(colon + 1)..]) : (host, null);
    }
}
