using System.Globalization;

namespace Berth.Registry.Server;

/// <summary>The command line of <c>berth-registry serve</c> and <c>garbage-collect</c>.</summary>
public sealed record RegistryOptions
{
    public string Addr { get; init; } = "127.0.0.1:5000";
    public string Root { get; init; } = "/var/lib/berth-registry";
    public string? Htpasswd { get; init; }
    public string? TlsCert { get; init; }
    public string? TlsKey { get; init; }
    /// <summary>CA bundle (PEM) that client certificates must chain to; with it, a client without one is refused.</summary>
    public string? TlsClientCa { get; init; }
    public string LogLevel { get; init; } = "info";
    public bool ReadOnly { get; init; }
    public int MaxConcurrentRequests { get; init; } = 1024;
    public bool DryRun { get; init; }
    public TimeSpan MinAge { get; init; } = TimeSpan.FromMinutes(10);

    public const string Usage = """
        Usage:
          berth-registry serve --root DIR [--addr HOST:PORT] [--htpasswd FILE] [--tls-cert FILE --tls-key FILE]
                               [--tls-client-ca FILE] [--read-only] [--max-concurrent-requests N] [--log-level debug|info|warn|error]
          berth-registry garbage-collect --root DIR [--dry-run] [--min-age DURATION]

        serve            runs an OCI distribution 1.1 registry (default address 127.0.0.1:5000)
        garbage-collect  deletes blobs no manifest references; blobs newer than --min-age
                         (default 10m; e.g. 0, 90s, 30m, 2h) are kept, so pushes in flight survive
        """;

    /// <summary>Parses the flags after the subcommand; both "--flag value" and "--flag=value" forms.</summary>
    public static RegistryOptions Parse(IReadOnlyList<string> args)
    {
        var o = new RegistryOptions();
        for (int i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string? inline = null;
            int eq = a.IndexOf('=');
            if (a.StartsWith("--") && eq > 0) { inline = a[(eq + 1)..]; a = a[..eq]; }
            string Value() => inline ?? (++i < args.Count ? args[i] : throw new ArgumentException($"flag needs an argument: {a}"));
            o = a switch
            {
                "--addr" => o with { Addr = Value() },
                "--root" => o with { Root = Value() },
                "--htpasswd" => o with { Htpasswd = Value() },
                "--tls-cert" => o with { TlsCert = Value() },
                "--tls-key" => o with { TlsKey = Value() },
                "--tls-client-ca" => o with { TlsClientCa = Value() },
                "--log-level" or "-l" => o with { LogLevel = Value() },
                "--read-only" => o with { ReadOnly = true },
                "--max-concurrent-requests" => o with { MaxConcurrentRequests = int.TryParse(Value(), out var n) && n > 0 ? n : throw new ArgumentException("--max-concurrent-requests wants a positive number") },
                "--dry-run" => o with { DryRun = true },
                "--min-age" => o with { MinAge = ParseDuration(Value()) },
                _ => throw new ArgumentException($"unknown flag: {a}"),
            };
        }
        if ((o.TlsCert is null) != (o.TlsKey is null)) throw new ArgumentException("--tls-cert and --tls-key go together");
        if (o.TlsClientCa is not null && o.TlsCert is null) throw new ArgumentException("--tls-client-ca needs --tls-cert and --tls-key");
        return o;
    }

    /// <summary>A duration as Go writes them: a number with s, m or h ("0" alone is allowed).</summary>
    public static TimeSpan ParseDuration(string s)
    {
        if (s == "0") return TimeSpan.Zero;
        if (s.Length >= 2 && double.TryParse(s[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0)
        {
            switch (s[^1])
            {
                case 's': return TimeSpan.FromSeconds(v);
                case 'm': return TimeSpan.FromMinutes(v);
                case 'h': return TimeSpan.FromHours(v);
            }
        }
        throw new ArgumentException($"invalid duration {s} (want e.g. 90s, 10m, 2h)");
    }
}
