using Berth.Cli.Commands;
using Berth.Cli.Formatting;
using Berth.Api;

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
}
