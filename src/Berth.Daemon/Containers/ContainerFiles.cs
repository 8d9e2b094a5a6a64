namespace Berth.Daemon.Containers;

/// <summary>
/// Where a container's files live. Persistent ones (log, hostname, hosts, resolv.conf) go under
/// the data root; the OCI bundle and the shim's socket and state under the exec root (tmpfs),
/// since they mean nothing after a reboot.
/// </summary>
public sealed class ContainerFiles(string dataRoot, string execRoot, string id)
{
    public string Dir { get; } = Path.Combine(dataRoot, "containers", id);
    public string StateDir { get; } = Path.Combine(execRoot, "containers", id);
    public string LogPath => Path.Combine(Dir, id + "-json.log");
    public string HostnamePath => Path.Combine(Dir, "hostname");
    public string HostsPath => Path.Combine(Dir, "hosts");
    public string ResolvConfPath => Path.Combine(Dir, "resolv.conf");
    public string BundleDir => StateDir;

    /// <summary>The shim's socket: in the state dir when the path fits a sockaddr_un, else a short name.</summary>
    public string SocketPath
    {
        get
        {
            var p = Path.Combine(StateDir, "shim.sock");
            return System.Text.Encoding.UTF8.GetByteCount(p) < 108 ? p : Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(StateDir)!)!, "s", id[..16] + ".sock");
        }
    }

    /// <summary>Writes /etc/hostname, /etc/hosts and /etc/resolv.conf as the container will see them.</summary>
    /// <param name="address">The container's address on its main network, which /etc/hosts maps its hostname to.</param>
    /// <param name="embeddedDns">On a user-defined network: resolv.conf points at the embedded DNS server (127.0.0.11), which forwards to --dns.</param>
    /// <param name="hostGateway">What --add-host NAME:host-gateway maps to.</param>
    /// <param name="address6">The container's IPv6 address on its main network, when that network has IPv6; mapped to its hostname too.</param>
    public void WriteNetworkFiles(string hostname, string? domainname, bool hostNetwork, System.Net.IPAddress? address, bool embeddedDns, System.Net.IPAddress? hostGateway,
        IEnumerable<string>? extraHosts, IEnumerable<string>? dns, IEnumerable<string>? dnsSearch, IEnumerable<string>? dnsOptions, System.Net.IPAddress? address6 = null)
    {
        Directory.CreateDirectory(Dir);
        if (hostNetwork)
        {
            Write(HostnamePath, Environment.MachineName + "\n");
            Write(HostsPath, ReadOrEmpty("/etc/hosts"));
        }
        else
        {
            Write(HostnamePath, hostname + "\n");
            var fqdn = string.IsNullOrEmpty(domainname) ? hostname : $"{hostname}.{domainname} {hostname}";
            var hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
                + (address is null ? $"127.0.1.1\t{fqdn}\n" : "");
            foreach (var h in extraHosts ?? Array.Empty<string>())
            {
                // NAME:IP, or NAME=IP as newer CLIs send it; IPv6 addresses contain colons, so split at the first.
                var i = h.IndexOfAny([':', '=']);
                if (i <= 0) throw new ArgumentException($"invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host");
                var ip = h[(i + 1)..];
                if (ip == "host-gateway") ip = hostGateway?.ToString() ?? throw new ArgumentException("unable to derive the IP value for host-gateway");
                hosts += $"{ip}\t{h[..i]}\n";
            }
            if (address is not null) hosts += $"{address}\t{fqdn}\n";
            if (address6 is not null) hosts += $"{address6}\t{fqdn}\n";
            Write(HostsPath, hosts);
        }
        Write(ResolvConfPath, ResolvConf(hostNetwork, embeddedDns ? ["127.0.0.11"] : dns, dnsSearch, embeddedDns ? (dnsOptions?.ToList() is { Count: > 0 } o ? o : ["ndots:0"]) : dnsOptions));
    }

    /// <summary>
    /// The host's resolv.conf without loopback nameservers (unreachable from the container's own
    /// network namespace), with --dns/--dns-search/--dns-option replacing the host's values.
    /// </summary>
    static string ResolvConf(bool hostNetwork, IEnumerable<string>? dns, IEnumerable<string>? search, IEnumerable<string>? options)
    {
        var lines = ReadOrEmpty("/etc/resolv.conf").Split('\n');
        var servers = dns?.ToList() is { Count: > 0 } d ? d
            : lines.Where(l => l.StartsWith("nameserver", StringComparison.Ordinal))
                   .Select(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1) ?? "")
                   .Where(s => s.Length > 0 && (hostNetwork || !(s.StartsWith("127.", StringComparison.Ordinal) || s == "::1")))
                   .ToList();
        var sb = new System.Text.StringBuilder();
        var searches = search?.ToList() is { Count: > 0 } s ? s
            : lines.Where(l => l.StartsWith("search", StringComparison.Ordinal)).SelectMany(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Skip(1)).ToList();
        if (searches.Count > 0) sb.Append("search ").AppendJoin(' ', searches).Append('\n');
        foreach (var server in servers) sb.Append("nameserver ").Append(server).Append('\n');
        var opts = options?.ToList() is { Count: > 0 } o ? o
            : lines.Where(l => l.StartsWith("options", StringComparison.Ordinal)).SelectMany(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Skip(1)).ToList();
        if (opts.Count > 0) sb.Append("options ").AppendJoin(' ', opts).Append('\n');
        return sb.ToString();
    }

    static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    static void Write(string path, string content) => File.WriteAllText(path, content);

    public void RemoveAll()
    {
        TryDelete(Dir);
        TryDelete(StateDir);
        var sock = SocketPath;
        if (!sock.StartsWith(StateDir, StringComparison.Ordinal)) try { File.Delete(sock); } catch (IOException) { }
    }

    static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
    }
}
