using Xunit;

namespace Berth.Registry.Server.Tests;

/// <summary>The small grammars every request passes through: names, tags, digests, ranges, durations, flags.</summary>
public sealed class ParsingTests
{
    [Theory]
    [InlineData("busybox", true)]
    [InlineData("library/busybox", true)]
    [InlineData("a.b_c__d---e/f", true)]
    [InlineData("Upper", false)]
    [InlineData("../etc", false)]
    [InlineData("a/../b", false)]
    [InlineData("a/./b", false)]
    [InlineData("/abs", false)]
    [InlineData("a/", false)]
    [InlineData("a___b", false)]
    [InlineData("_manifests", false)]
    [InlineData("", false)]
    public void Repository_names_follow_the_spec_grammar(string name, bool valid) => Assert.Equal(valid, References.IsValidName(name));

    [Fact]
    public void Repository_names_are_limited_to_255_characters()
    {
        Assert.True(References.IsValidName(new string('a', 255)));
        Assert.False(References.IsValidName(new string('a', 256)));
    }

    [Theory]
    [InlineData("latest", true)]
    [InlineData("v1.2-rc_3", true)]
    [InlineData("..", false)]
    [InlineData(".hidden", false)]
    [InlineData("-x", false)]
    [InlineData("a/b", false)]
    public void Tags_follow_the_spec_grammar(string tag, bool valid) => Assert.Equal(valid, References.IsTag(tag));

    [Fact]
    public void Tags_are_limited_to_128_characters()
    {
        Assert.True(References.IsTag(new string('t', 128)));
        Assert.False(References.IsTag(new string('t', 129)));
    }

    [Theory]
    [InlineData("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", true)]
    [InlineData("sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824", false)]
    [InlineData("sha256:2cf24dba", false)]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e", false)]
    [InlineData("sha256:../../../../../../../../../../../../../../../../../../../etc/passwd", false)]
    [InlineData("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", false)]
    public void Digests_must_name_a_known_algorithm_and_full_lowercase_hex(string s, bool valid) => Assert.Equal(valid, Digest.TryParse(s, out _));

    [Theory]
    [InlineData("bytes=0-9", 100, 0, 10)]
    [InlineData("bytes=90-", 100, 90, 10)]
    [InlineData("bytes=-5", 100, 95, 5)]
    [InlineData("bytes=50-500", 100, 50, 50)]
    public void Byte_ranges_are_clamped_to_the_blob(string header, long size, long offset, long count)
    {
        Assert.True(RegistryApi.TryParseByteRange(header, size, out var o, out var c));
        Assert.Equal((offset, count), (o, c));
    }

    [Theory]
    [InlineData("bytes=100-", 100)]
    [InlineData("bytes=5-2", 100)]
    [InlineData("bytes=0-1,5-6", 100)]
    [InlineData("items=0-1", 100)]
    public void Unsatisfiable_or_malformed_byte_ranges_are_refused(string header, long size) =>
        Assert.False(RegistryApi.TryParseByteRange(header, size, out _, out _));

    [Theory]
    [InlineData("0-99", 0, 99)]
    [InlineData("bytes 100-199/*", 100, 199)]
    [InlineData("bytes=5-5", 5, 5)]
    public void Chunk_content_ranges_accept_the_forms_clients_send(string value, long from, long to)
    {
        Assert.True(RegistryApi.TryParseContentRange(value, out var f, out var t));
        Assert.Equal((from, to), (f, t));
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("90s", 90)]
    [InlineData("10m", 600)]
    [InlineData("1.5h", 5400)]
    public void Durations_read_like_go_durations(string s, double seconds) => Assert.Equal(seconds, RegistryOptions.ParseDuration(s).TotalSeconds);

    [Fact]
    public void Serve_flags_parse_in_both_forms_and_tls_flags_go_together()
    {
        var o = RegistryOptions.Parse(["--addr=127.0.0.1:5001", "--root", "/r", "--read-only"]);
        Assert.Equal(("127.0.0.1:5001", "/r", true), (o.Addr, o.Root, o.ReadOnly));
        Assert.Throws<ArgumentException>(() => RegistryOptions.Parse(["--tls-cert", "c.pem"]));
        Assert.Throws<ArgumentException>(() => RegistryOptions.Parse(["--bogus"]));
    }

    [Fact]
    public void Htpasswd_refuses_entries_that_are_not_bcrypt()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "user:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n");
            Assert.Throws<FormatException>(() => Htpasswd.Load(path));
        }
        finally { File.Delete(path); }
    }
}
