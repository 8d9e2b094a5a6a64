using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace Berth.Daemon;

/// <summary>One <c>-H</c> value: unix://PATH or tcp://ADDR:PORT.</summary>
public sealed record DaemonHost(string Scheme, string Path, string Address, int Port)
{
    public static DaemonHost Parse(string value)
    {
        if (value.StartsWith("unix://", StringComparison.Ordinal))
        {
            var path = value["unix://".Length..];
            if (path.Length == 0) throw new ArgumentException($"invalid host {value}: empty socket path");
            if (System.Text.Encoding.UTF8.GetByteCount(path) >= 108) throw new ArgumentException($"invalid host {value}: socket path longer than 107 bytes");
            return new DaemonHost("unix", path, "", 0);
        }
        if (value.StartsWith("tcp://", StringComparison.Ordinal))
        {
            var rest = value["tcp://".Length..].TrimEnd('/');
            int colon = rest.LastIndexOf(':');
            if (colon < 0 || !int.TryParse(rest[(colon + 1)..], out var port) || port is <= 0 or > 65535)
                throw new ArgumentException($"invalid host {value}: expected tcp://ADDRESS:PORT");
            return new DaemonHost("tcp", "", rest[..colon].Trim('[', ']'), port);
        }
        if (value.StartsWith('/')) return Parse("unix://" + value);
        throw new ArgumentException($"invalid host {value}: use unix://PATH or tcp://ADDRESS:PORT");
    }

    public override string ToString() => Scheme == "unix" ? $"unix://{Path}" : $"tcp://{Address}:{Port}";
}

/// <summary>berthd's configuration, taken from dockerd-compatible flags.</summary>
public sealed class DaemonOptions
{
    public const string DefaultSocket = "/run/berth/berth.sock";

    public List<DaemonHost> Hosts { get; set; } = new();
    public string DataRoot { get; set; } = "/var/lib/berth";
    public string ExecRoot { get; set; } = "/run/berth";
    public string? StorageDriver { get; set; }
    public string? PidFile { get; set; }
    public LogLevel LogLevel { get; set; } = LogLevel.Information;
    /// <summary>The default bridge network's device (default berth0); "none" disables networking.</summary>
    public string Bridge { get; set; } = "";
    /// <summary>--bip: the default bridge's own address and prefix, e.g. 172.31.0.1/16.</summary>
    public string? Bip { get; set; }
    /// <summary>--fixed-cidr: the part of the default subnet container addresses come from.</summary>
    public string? FixedCidr { get; set; }
    /// <summary>--ipv6: the default bridge gets an IPv6 subnet too (--fixed-cidr-v6, else one from Berth's ULA pool).</summary>
    public bool Ipv6 { get; set; }
    /// <summary>--fixed-cidr-v6: the default bridge's IPv6 subnet.</summary>
    public string? FixedCidrV6 { get; set; }
    public int Mtu { get; set; } = 1500;
    public bool Iptables { get; set; } = true;
    public bool IpForward { get; set; } = true;
    public bool UserlandProxy { get; set; } = true;
    public bool Icc { get; set; } = true;
    public bool Tls { get; set; }
    public bool TlsVerify { get; set; }
    public string? TlsCaCert { get; set; }
    public string? TlsCert { get; set; }
    public string? TlsKey { get; set; }
    public Dictionary<string, string> Runtimes { get; set; } = new();
    public string DefaultRuntime { get; set; } = "native";
    /// <summary>Leave containers running when the daemon shuts down cleanly (they survive a crash either way).</summary>
    public bool LiveRestore { get; set; }
    /// <summary>Registry client settings: mirrors, insecure registries, transfer concurrency.</summary>
    public Berth.Registry.Transport.RegistryOptions Registry { get; set; } = new();
    /// <summary>Directory of berth-shim and berth-runc; default: beside berthd.</summary>
    public string BinDir { get; set; } = AppContext.BaseDirectory;

    /// <summary>
    /// Parses dockerd-style flags. Returns null and writes the reason to <paramref name="error"/>
    /// for bad input; validation covers the combinations dockerd refuses too.
    /// </summary>
    public static DaemonOptions? Parse(string[] args, TextWriter error, out int exitCode)
    {
        exitCode = 0;
        var host = new Option<string[]>("--host", "-H") { Description = "Daemon socket(s) to connect to", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false };
        var dataRoot = new Option<string>("--data-root") { Description = "Root directory of persistent Berth state", DefaultValueFactory = _ => "/var/lib/berth" };
        var execRoot = new Option<string>("--exec-root") { Description = "Root directory for execution state files", DefaultValueFactory = _ => "/run/berth" };
        var storage = new Option<string?>("--storage-driver", "-s") { Description = "Storage driver to use (overlay2, btrfs, vfs)" };
        var pidfile = new Option<string?>("--pidfile", "-p") { Description = "Path to use for daemon PID file" };
        var logLevel = new Option<string>("--log-level", "-l") { Description = "Set the logging level (debug, info, warn, error, fatal)", DefaultValueFactory = _ => "info" };
        var debug = new Option<bool>("--debug", "-D") { Description = "Enable debug mode" };
        var bridge = new Option<string>("--bridge", "-b") { Description = "Attach containers to a network bridge (\"none\" disables networking)", DefaultValueFactory = _ => "" };
        var tls = new Option<bool>("--tls") { Description = "Use TLS; implied by --tlsverify" };
        var tlsVerify = new Option<bool>("--tlsverify") { Description = "Use TLS and verify the remote" };
        var tlsCa = new Option<string?>("--tlscacert") { Description = "Trust certs signed only by this CA" };
        var tlsCert = new Option<string?>("--tlscert") { Description = "Path to TLS certificate file" };
        var tlsKey = new Option<string?>("--tlskey") { Description = "Path to TLS key file" };
        var addRuntime = new Option<string[]>("--add-runtime") { Description = "Register an additional OCI compatible runtime (NAME=PATH)", Arity = ArgumentArity.ZeroOrMore };
        var defaultRuntime = new Option<string>("--default-runtime") { Description = "Default OCI runtime for containers", DefaultValueFactory = _ => "native" };
        var binDir = new Option<string?>("--bin-dir") { Description = "Directory holding berth-shim and berth-runc (default: beside berthd)" };
        var bip = new Option<string?>("--bip") { Description = "Specify network bridge IP (CIDR)" };
        var fixedCidr = new Option<string?>("--fixed-cidr") { Description = "IPv4 subnet for fixed IPs" };
        var ipv6 = new Option<bool>("--ipv6") { Description = "Enable IPv6 networking on the default bridge", Arity = ArgumentArity.ZeroOrOne };
        var fixedCidrV6 = new Option<string?>("--fixed-cidr-v6") { Description = "IPv6 subnet for the default bridge" };
        var mtu = new Option<int>("--mtu") { Description = "Set the containers network MTU", DefaultValueFactory = _ => 1500 };
        var iptables = new Option<bool>("--iptables") { Description = "Enable addition of firewall rules (Berth's own nftables table)", DefaultValueFactory = _ => true, Arity = ArgumentArity.ZeroOrOne };
        var ipForward = new Option<bool>("--ip-forward") { Description = "Enable net.ipv4.ip_forward", DefaultValueFactory = _ => true, Arity = ArgumentArity.ZeroOrOne };
        var userlandProxy = new Option<bool>("--userland-proxy") { Description = "Use userland proxy for loopback traffic", DefaultValueFactory = _ => true, Arity = ArgumentArity.ZeroOrOne };
        var icc = new Option<bool>("--icc") { Description = "Enable inter-container communication", DefaultValueFactory = _ => true, Arity = ArgumentArity.ZeroOrOne };
        var liveRestore = new Option<bool>("--live-restore") { Description = "Keep containers running when the daemon shuts down" };
        var maxDownloads = new Option<int>("--max-concurrent-downloads") { Description = "Set the max concurrent downloads", DefaultValueFactory = _ => 3 };
        var maxUploads = new Option<int>("--max-concurrent-uploads") { Description = "Set the max concurrent uploads", DefaultValueFactory = _ => 5 };
        var insecure = new Option<string[]>("--insecure-registry") { Description = "Enable insecure registry communication", Arity = ArgumentArity.ZeroOrMore };
        var mirrors = new Option<string[]>("--registry-mirror") { Description = "Preferred registry mirror", Arity = ArgumentArity.ZeroOrMore };
        // dockerd hard-wires /etc/docker/certs.d; a flag lets a private daemon (tests, rootless setups) use its own.
        var certsDir = new Option<string>("--registry-certs-dir") { Description = "Directory of per-registry CAs and client certificates (HOST[:PORT]/ca.crt, client.cert, client.key)", DefaultValueFactory = _ => "/etc/berth/certs.d" };

        var root = new RootCommand("berthd: the Berth container engine daemon")
        {
            host, dataRoot, execRoot, storage, pidfile, logLevel, debug, bridge, tls, tlsVerify, tlsCa, tlsCert, tlsKey,
            addRuntime, defaultRuntime, binDir, iptables, liveRestore, bip, fixedCidr, ipv6, fixedCidrV6, mtu, ipForward, userlandProxy, icc,
            maxDownloads, maxUploads, insecure, mirrors, certsDir,
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) error.WriteLine($"berthd: {e.Message}");
            exitCode = 125;
            return null;
        }
        if (args.Any(a => a is "-h" or "--help" or "-?" or "--version")) { exitCode = parsed.Invoke(); return null; }

        var o = new DaemonOptions();
        try
        {
            o.DataRoot = Path.GetFullPath(parsed.GetValue(dataRoot)!);
            o.ExecRoot = Path.GetFullPath(parsed.GetValue(execRoot)!);
            o.StorageDriver = Environment.GetEnvironmentVariable("BERTH_DRIVER") is { Length: > 0 } envDriver && parsed.GetValue(storage) is null
                ? envDriver
                : parsed.GetValue(storage) ?? (Environment.GetEnvironmentVariable("DOCKER_DRIVER") is { Length: > 0 } dd ? dd : null);
            o.PidFile = parsed.GetValue(pidfile);
            o.LogLevel = parsed.GetValue(debug) ? LogLevel.Debug : ParseLevel(parsed.GetValue(logLevel)!);
            o.Bridge = parsed.GetValue(bridge)!;
            o.Bip = parsed.GetValue(bip);
            o.FixedCidr = parsed.GetValue(fixedCidr);
            o.Ipv6 = parsed.GetValue(ipv6);
            o.FixedCidrV6 = parsed.GetValue(fixedCidrV6);
            o.Mtu = parsed.GetValue(mtu);
            o.Iptables = parsed.GetValue(iptables);
            o.IpForward = parsed.GetValue(ipForward);
            o.UserlandProxy = parsed.GetValue(userlandProxy);
            o.Icc = parsed.GetValue(icc);
            if (o.Mtu is < 68 or > 65535) throw new ArgumentException($"invalid --mtu {o.Mtu}");
            if (o.Bip is not null && o.Bridge == "none") throw new ArgumentException("--bip and --bridge none are mutually exclusive");
            try
            {
                if (o.Bip is not null) Berth.Network.Subnet.ParseHost(o.Bip);
                if (o.FixedCidr is not null && o.Bip is not null && !Berth.Network.Subnet.ParseHost(o.Bip).Subnet.Contains(Berth.Network.Subnet.ParseV4(o.FixedCidr)))
                    throw new ArgumentException($"--fixed-cidr {o.FixedCidr} is not inside --bip {o.Bip}");
                if (o.FixedCidr is not null) o.FixedCidr = Berth.Network.Subnet.ParseV4(o.FixedCidr).ToString();
                if (o.FixedCidrV6 is not null)
                {
                    // Without --ipv6 the subnet would go unused; saying so beats ignoring it.
                    if (!o.Ipv6) throw new ArgumentException("--fixed-cidr-v6 needs --ipv6");
                    var v6 = Berth.Network.Subnet.ParseV6(o.FixedCidrV6);
                    if (v6.PrefixLength > 124) throw new ArgumentException($"--fixed-cidr-v6 {o.FixedCidrV6}: the prefix is too small for containers (at most /124)");
                    o.FixedCidrV6 = v6.ToString();
                }
            }
            catch (FormatException e) { throw new ArgumentException(e.Message); }
            o.TlsVerify = parsed.GetValue(tlsVerify);
            o.Tls = parsed.GetValue(tls) || o.TlsVerify;
            o.TlsCaCert = parsed.GetValue(tlsCa);
            o.TlsCert = parsed.GetValue(tlsCert);
            o.TlsKey = parsed.GetValue(tlsKey);
            o.DefaultRuntime = parsed.GetValue(defaultRuntime)!;
            o.LiveRestore = parsed.GetValue(liveRestore);
            if (parsed.GetValue(binDir) is { } bd) o.BinDir = Path.GetFullPath(bd);
            o.Registry = ParseRegistry(parsed.GetValue(maxDownloads), parsed.GetValue(maxUploads),
                parsed.GetValue(insecure) ?? [], parsed.GetValue(mirrors) ?? []) with { CertsDir = Path.GetFullPath(parsed.GetValue(certsDir)!) };
            foreach (var r in parsed.GetValue(addRuntime) ?? Array.Empty<string>())
            {
                var eq = r.IndexOf('=');
                if (eq <= 0 || eq == r.Length - 1) throw new ArgumentException($"invalid --add-runtime {r}: expected NAME=PATH");
                o.Runtimes[r[..eq]] = r[(eq + 1)..];
            }
            // As dockerd, "runc" is always known (found on PATH when a container uses it) unless overridden.
            o.Runtimes.TryAdd("runc", "runc");
            if (o.DefaultRuntime != "native" && !o.Runtimes.ContainsKey(o.DefaultRuntime))
                throw new ArgumentException($"default runtime {o.DefaultRuntime} is not registered (use --add-runtime)");
            var hosts = parsed.GetValue(host) ?? Array.Empty<string>();
            o.Hosts = (hosts.Length == 0 ? new[] { "unix://" + DefaultSocket } : hosts).Select(DaemonHost.Parse).ToList();
            if (o.Hosts.Any(h => h.Scheme == "tcp"))
            {
                // A plain TCP socket would hand root on this machine to anyone who can reach it.
                if (!o.TlsVerify || o.TlsCaCert is null || o.TlsCert is null || o.TlsKey is null)
                    throw new ArgumentException("refusing to listen on tcp:// without mutual TLS: pass --tlsverify --tlscacert --tlscert --tlskey");
                foreach (var f in new[] { o.TlsCaCert, o.TlsCert, o.TlsKey })
                    if (!File.Exists(f)) throw new ArgumentException($"TLS file {f} does not exist");
            }
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"berthd: {e.Message}");
            exitCode = 125;
            return null;
        }
        return o;
    }

    /// <summary>dockerd's validation: positive concurrency, mirrors as http(s) URLs with no path beyond "/".</summary>
    static Berth.Registry.Transport.RegistryOptions ParseRegistry(int downloads, int uploads, string[] insecure, string[] mirrors)
    {
        if (downloads < 1) throw new ArgumentException($"invalid max concurrent downloads: {downloads}");
        if (uploads < 1) throw new ArgumentException($"invalid max concurrent uploads: {uploads}");
        var r = new Berth.Registry.Transport.RegistryOptions { MaxConcurrentDownloads = downloads, MaxConcurrentUploads = uploads };
        foreach (var i in insecure)
        {
            var entry = i.Contains("://", StringComparison.Ordinal) ? throw new ArgumentException($"insecure registry {i} should not contain '://'") : i.TrimEnd('/');
            r.InsecureRegistries.Add(entry);
        }
        foreach (var m in mirrors)
        {
            if (!Uri.TryCreate(m, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath.Trim('/').Length > 0)
                throw new ArgumentException($"invalid mirror: {m}: it must be an http(s) URL with no path");
            r.Mirrors.Add(new Uri(uri.GetLeftPart(UriPartial.Authority)));
        }
        return r;
    }

    static LogLevel ParseLevel(string s) => s.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "fatal" or "panic" => LogLevel.Critical,
        _ => throw new ArgumentException($"unable to parse logging level: {s}"),
    };
}
