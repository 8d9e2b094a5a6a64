using Berth.Api;
using Berth.Registry.Auth;
using Berth.Registry.Distribution;
using Berth.Registry.Transport;
using Xunit;

namespace Berth.Registry.Tests;

public sealed class UnitTests
{
    [Theory]
    [InlineData("linux/arm64/v8", "linux/arm64")]
    [InlineData("linux/x86_64", "linux/amd64")]
    [InlineData("linux", "linux/amd64")]
    [InlineData("LINUX/ARM/v7", "linux/arm/v7")]
    public void Platform_parse_normalises_docker_aliases(string input, string expected) =>
        Assert.Equal(expected, Platform.Parse(input).ToString());

    [Fact]
    public void X_registry_auth_decodes_base64url_padded_unpadded_and_garbage()
    {
        var cfg = new AuthConfig { Username = "me", Password = "p?>s", ServerAddress = "localhost:5000" };
        var header = cfg.ToHeader();
        Assert.Equal("me", AuthConfig.FromHeader(header).Username);
        Assert.Equal("p?>s", AuthConfig.FromHeader(header.TrimEnd('=')).Password);
        Assert.Null(AuthConfig.FromHeader("e30=").Username);
        Assert.Null(AuthConfig.FromHeader("%%%not-base64").Username);
        Assert.Equal(("u", "pw"), new AuthConfig { Auth = Convert.ToBase64String("u:pw"u8.ToArray()) }.Basic());
    }

    [Fact]
    public void Challenge_parse_reads_quoted_parameters()
    {
        var c = Challenge.Parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"")!;
        Assert.Equal("Bearer", c.Scheme);
        Assert.Equal("https://auth.example/token", c["realm"]);
        Assert.Equal("repository:a/b:pull,push", c["scope"]);
    }

    [Theory]
    [InlineData("localhost:5000", true)]
    [InlineData("127.0.0.1:5000", true)]
    [InlineData("[::1]:5000", true)]
    [InlineData("registry.example:5000", false)]
    [InlineData("10.1.2.3:5000", true)]
    [InlineData("myreg:443", true)]
    public void Insecure_registries_are_loopback_named_hosts_and_cidrs(string host, bool insecure)
    {
        var o = new RegistryOptions { InsecureRegistries = ["10.0.0.0/8", "myreg:443"] };
        Assert.Equal(insecure, o.IsInsecure(host));
    }

    [Fact]
    public void Progress_bar_matches_dockers_rendering()
    {
        Assert.Equal("[==================================================>]  2.231MB/2.231MB", ProgressBar.Render(2231000, 2231000));
        Assert.StartsWith("[=========================>                         ] ", ProgressBar.Render(50, 100));
    }
}
