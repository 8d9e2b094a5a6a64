namespace Berth.Daemon.Tests;

/// <summary>
/// A berthd with bridge networking on: its default bridge has a name and a /24 of its own
/// (never berth0 or 172.17/16), and its nftables table is named after its data root, so it can
/// run beside any other daemon. At clean shutdown berthd removes the table and its bridges.
/// </summary>
public class NetworkDaemonFixture : DaemonFixture
{
    public string BridgeName { get; } = "bt" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
    public string Subnet { get; } = $"10.{Random.Shared.Next(200, 250)}.{Random.Shared.Next(0, 255)}";

    protected override string[] NetworkArgs => ["--bridge", BridgeName, "--bip", Subnet + ".1/24"];
}

/// <summary>
/// The same with IPv6 on the default bridge (--ipv6 --fixed-cidr-v6 on a random ULA /64). On a
/// host whose kernel has no IPv6 the daemon runs without those flags and the tests skip.
/// </summary>
public sealed class Ipv6DaemonFixture : NetworkDaemonFixture
{
    public static bool KernelHasIpv6 => File.Exists("/proc/net/if_inet6");

    /// <summary>The default bridge's IPv6 prefix without its length, e.g. "fd3a:12:3456:789a::".</summary>
    public string Prefix6 { get; } = RandomUla64();

    /// <summary>
    /// A random ULA /64 prefix written as IPAddress prints it, so tests can compare strings: every
    /// group has four digits without a leading zero (no zero group to compress).
    /// </summary>
    public static string RandomUla64()
    {
        int Group() => 0x1000 | Random.Shared.Next(0x1000);
        return $"fd{Random.Shared.Next(0x10, 0x100):x2}:{Group():x}:{Group():x}:{Group():x}::";
    }

    /// <summary>
    /// --ip-forward=false: nothing here crosses beyond a bridge, and a test must not switch the
    /// host's IPv6 forwarding on (which also stops its interfaces accepting router advertisements).
    /// </summary>
    protected override string[] NetworkArgs =>
        KernelHasIpv6 ? [.. base.NetworkArgs, "--ip-forward=false", "--ipv6", "--fixed-cidr-v6", Prefix6 + "/64"] : base.NetworkArgs;

    public void RequireIpv6()
    {
        Require();
        if (!KernelHasIpv6) Xunit.Assert.Skip("the host kernel has no IPv6 (/proc/net/if_inet6 is missing)");
    }
}
