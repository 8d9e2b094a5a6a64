using Berth.Graph.References;

namespace Berth.Graph.Tests;

public class ReferenceTests
{
    [Theory]
    [InlineData("busybox", "docker.io/library/busybox", "busybox")]
    [InlineData("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36")]
    [InlineData("library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("index.docker.io/library/busybox", "docker.io/library/busybox", "busybox")]
    [InlineData("user/app:v1", "docker.io/user/app:v1", "user/app:v1")]
    [InlineData("docker.io/library/a/b", "docker.io/library/a/b", "library/a/b")]
    [InlineData("localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b:v1")]
    [InlineData("localhost/app", "localhost/app", "localhost/app")]
    [InlineData("quay.io/org/app", "quay.io/org/app", "quay.io/org/app")]
    [InlineData("Example.com/app", "Example.com/app", "Example.com/app")]
    [InlineData("a-b__c.d/e:tag_1.0-x", "a-b__c.d/e:tag_1.0-x", "a-b__c.d/e:tag_1.0-x")]
    [InlineData("app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "docker.io/library/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Parse_normalises_and_prints_familiar_form(string input, string full, string familiar)
    {
        var r = Reference.Parse(input);
        Assert.Equal(full, r.ToString());
        Assert.Equal(familiar, r.FamiliarString);
    }

    [Theory]
    [InlineData("")]
    [InlineData(":tag")]
    [InlineData("a:")]
    [InlineData("a b")]
    [InlineData("-a")]
    [InlineData("a//b")]
    [InlineData("a:tag:tag")]
    [InlineData("a@sha256:abc")]
    [InlineData("a:" + "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt")]
    public void Parse_rejects_malformed_references(string input)
    {
        var e = Assert.Throws<InvalidReferenceException>(() => Reference.Parse(input));
        Assert.StartsWith("invalid reference format", e.Message);
    }

    [Fact]
    public void Parse_rejects_uppercase_repository_with_docker_message()
    {
        var e = Assert.Throws<InvalidReferenceException>(() => Reference.Parse("Busybox"));
        Assert.Equal("invalid reference format: repository name (Busybox) must be lowercase", e.Message);
    }

    [Fact]
    public void Parse_rejects_64_hex_repository_names()
    {
        var e = Assert.Throws<InvalidReferenceException>(() => Reference.Parse(new string('a', 64)));
        Assert.Contains("cannot specify 64-byte hexadecimal strings", e.Message);
    }

    [Fact]
    public void Default_tag_is_added_only_to_bare_names()
    {
        Assert.Equal("busybox:latest", Reference.Parse("busybox").WithDefaultTag().FamiliarString);
        Assert.Equal("busybox:1", Reference.Parse("busybox:1").WithDefaultTag().FamiliarString);
    }
}
