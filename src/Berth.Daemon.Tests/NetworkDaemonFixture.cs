namespace Berth.Daemon.Tests;

/// <summary>
/// A berthd with bridge networking on: its default bridge has a name and a /24 of its own
/// (never berth0 or 172.17/16), and its nftables table is named after its data root, so it can
/// run beside any other daemon. At clean shutdown berthd removes the table and its bridges.
/// </summary>
public sealed class NetworkDaemonFixture : DaemonFixture
{
    public string BridgeName { get; } = "bt" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
    public string Subnet { get; } = $"10.{Random.Shared.Next(200, 250)}.{Random.Shared.Next(0, 255)}";

    protected override string[] NetworkArgs => ["--bridge", BridgeName, "--bip", Subnet + ".1/24"];
}
