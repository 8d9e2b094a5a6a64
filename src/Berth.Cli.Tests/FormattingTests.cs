using Berth.Cli.Commands;
using Berth.Cli.Formatting;
using Berth.Api;
using Berth.Cli.Templates;

namespace Berth.Cli.Tests;

public class FormattingTests
{
    [Theory]
    [InlineData(0.5, "Less than a second")]
    [InlineData(1, "1 second")]
    [InlineData(59, "59 seconds")]
    [InlineData(60, "About a minute")]
    [InlineData(120, "2 minutes")]
    [InlineData(3600, "About an hour")]
    [InlineData(3 * 3600, "3 hours")]
    [InlineData(3 * 86400, "3 days")]
    [InlineData(15 * 86400, "2 weeks")]
    [InlineData(90 * 86400, "3 months")]
    [InlineData(800 * 86400, "2 years")]
    public void HumanDuration_matches_go_units(double seconds, string expected) =>
        Assert.Equal(expected, Units.HumanDuration(TimeSpan.FromSeconds(seconds)));

    [Theory]
    [InlineData(0, "0B")]
    [InlineData(999, "999B")]
    [InlineData(1000, "1kB")]
    [InlineData(12345, "12.3kB")]
    [InlineData(4_260_000, "4.26MB")]
    [InlineData(1_982_000, "1.98MB")]
    [InlineData(999_999, "1e+03kB")]
    public void HumanSize_three_digits_matches_docker_images(long size, string expected) =>
        Assert.Equal(expected, Units.HumanSize(size, 3));

    [Fact]
    public void BytesSize_uses_binary_units() => Assert.Equal("23.54GiB", Units.BytesSize(23.54 * 1024 * 1024 * 1024));

    [Fact]
    public void TabWriter_pads_columns_to_widest_cell_plus_three_minimum_ten()
    {
        var text = "CONTAINER ID\tIMAGE\tPORTS\tNAMES\n5cb3528e284e\tbusybox\t\tt1\n";
        Assert.Equal(
            "CONTAINER ID   IMAGE     PORTS     NAMES\n" +
            "5cb3528e284e   busybox             t1\n",
            TabWriter.Format(text));
    }

    [Fact]
    public void Command_is_truncated_with_ellipsis_and_quoted()
    {
        Assert.Equal("\"sh -c 'exit 3'\"", ContainerCommands.GoQuote(ContainerCommands.Ellipsis("sh -c 'exit 3'", 20)));
        Assert.Equal("\"sleep 1000000000000…\"", ContainerCommands.GoQuote(ContainerCommands.Ellipsis("sleep 1000000000000000", 20)));
    }

    [Fact]
    public void IndentJson_matches_go_four_space_indent()
    {
        var s = Cli.IndentJson("[{\"A\":1,\"B\":{},\"C\":[\"x\",\"\\u003c\"]}]"u8);
        Assert.Equal("[\n    {\n        \"A\": 1,\n        \"B\": {},\n        \"C\": [\n            \"x\",\n            \"\\u003c\"\n        ]\n    }\n]", s);
    }

    [Fact]
    public void Network_names_sort_in_natural_order_like_docker()
    {
        var names = new List<string> { "net10", "bridge", "net2", "net02", "host", "none", "Net1" };
        names.Sort(NaturalOrder.Compare);
        Assert.Equal(["Net1", "bridge", "host", "net2", "net02", "net10", "none"], names);
    }

    [Theory]
    [InlineData("2026-11-28T07:10:11.3348207Z", "2026-11-28 07:10:11.3348207 +0000 UTC")]
    [InlineData("2026-11-28T07:10:11.500Z", "2026-11-28 07:10:11.5 +0000 UTC")]
    [InlineData("2026-11-28T07:10:11Z", "2026-11-28 07:10:11 +0000 UTC")]
    [InlineData("2026-11-28T08:10:11.25+01:00", "2026-11-28 08:10:11.25 +0100 +0100")]
    public void Network_created_at_prints_as_go_time_string(string created, string expected) =>
        Assert.Equal(expected, NetworkCommands.GoTime(created));

    [Fact]
    public void Ipam_flags_group_under_the_subnet_that_contains_them()
    {
        var cfg = NetworkCommands.IpamConfigs(["10.9.0.0/16", "10.8.0.0/24"], ["10.9.1.0/24"], ["10.8.0.254"], new() { ["r"] = "10.9.0.9" });
        Assert.Equal(2, cfg.Count);
        Assert.Equal(("10.9.0.0/16", "10.9.1.0/24", null, "10.9.0.9"), (cfg[0].Subnet, cfg[0].IPRange, cfg[0].Gateway, cfg[0].AuxiliaryAddresses!["r"]));
        Assert.Equal(("10.8.0.0/24", "10.8.0.254"), (cfg[1].Subnet, cfg[1].Gateway));
        Assert.Equal("no matching subnet for gateway 10.7.0.1", Assert.Throws<UsageException>(() => NetworkCommands.IpamConfigs(["10.9.0.0/16"], [], ["10.7.0.1"], new())).Message);
        Assert.Equal("multiple overlapping subnet configuration is not supported", Assert.Throws<UsageException>(() => NetworkCommands.IpamConfigs(["10.9.0.0/16", "10.9.3.0/24"], [], [], new())).Message);
    }

    [Fact]
    public void Ipam_flags_of_both_families_group_under_their_own_subnet()
    {
        var cfg = NetworkCommands.IpamConfigs(["10.9.0.0/24", "fd12:3456:789a:1::/64"], ["fd12:3456:789a:1:0:1::/96"], ["fd12:3456:789a:1::fe", "10.9.0.254"], new());
        Assert.Equal(("10.9.0.0/24", null, "10.9.0.254"), (cfg[0].Subnet, cfg[0].IPRange, cfg[0].Gateway));
        Assert.Equal(("fd12:3456:789a:1::/64", "fd12:3456:789a:1:0:1::/96", "fd12:3456:789a:1::fe"), (cfg[1].Subnet, cfg[1].IPRange, cfg[1].Gateway));
        Assert.Equal("no matching subnet for gateway fd00::1", Assert.Throws<UsageException>(() => NetworkCommands.IpamConfigs(["10.9.0.0/24"], [], ["fd00::1"], new())).Message);
    }

    [Theory]
    [InlineData("berth-cli-test", "berth cli test")]
    [InlineData("com.example.build_id", "build id")]
    public void Label_column_header_is_the_last_key_part_with_spaces_like_docker(string key, string header) =>
        Assert.Equal(header, Row.LabelHeader([key]));
}
