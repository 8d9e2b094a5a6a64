using Berth.Cli;
using Berth.Cli.Commands;

namespace Berth.Cli.Tests;

public class ArgsTests
{
    static readonly Flag[] RunFlags =
    {
        new("interactive", 'i', true), new("tty", 't', true), new("detach", 'd', true), new("env", 'e'), new("name"), new("rm", IsBool: true),
    };

    [Fact]
    public void Run_options_stop_at_the_image_so_the_rest_is_the_command()
    {
        var p = ParsedArgs.Parse(RunFlags, new[] { "--rm", "busybox", "sh", "-c", "exit 3", "--name", "x" }, stopAtFirstPositional: true);
        Assert.True(p.Bool("rm"));
        Assert.Equal(new[] { "busybox", "sh", "-c", "exit 3", "--name", "x" }, p.Positionals);
        Assert.False(p.Has("name"));
    }

    [Fact]
    public void Combined_short_booleans_set_each_flag()
    {
        var p = ParsedArgs.Parse(RunFlags, new[] { "-itd", "img" }, true);
        Assert.True(p.Bool("interactive"));
        Assert.True(p.Bool("tty"));
        Assert.True(p.Bool("detach"));
    }

    [Fact]
    public void Repeated_env_flags_keep_every_value_in_order()
    {
        var p = ParsedArgs.Parse(RunFlags, new[] { "-e", "A=1", "-e", "B", "-eC=3", "img" }, true);
        Assert.Equal(new[] { "A=1", "B", "C=3" }, p.All("env"));
    }

    [Theory]
    [InlineData("--name=x")]
    [InlineData("--name x")]
    public void Long_value_flags_accept_equals_and_separate_forms(string form)
    {
        var p = ParsedArgs.Parse(RunFlags, form.Split(' ').Append("img").ToArray(), true);
        Assert.Equal("x", p.Get("name"));
    }

    [Fact]
    public void Unknown_flag_is_a_usage_error_naming_it()
    {
        var e = Assert.Throws<UsageException>(() => ParsedArgs.Parse(RunFlags, new[] { "--foo", "img" }, true));
        Assert.Equal("unknown flag: --foo", e.Message);
    }

    [Fact]
    public void Bool_flag_accepts_explicit_false()
    {
        var p = ParsedArgs.Parse(RunFlags, new[] { "--rm=false", "img" }, true);
        Assert.False(p.Bool("rm"));
    }

    [Fact]
    public void Create_body_maps_interactive_tty_and_labels_like_docker()
    {
        var flags = RunCommands.All().Single(c => c.Name == "run").Flags;
        var p = ParsedArgs.Parse(flags, new[] { "-it", "--rm", "-l", "a=b", "-e", "X=1", "-w", "/w", "busybox", "sh" }, true);
        var req = RunCommands.BuildCreateRequest(p, detach: false, (24, 80));
        var cfg = req.Config;
        Assert.True(cfg.Tty && cfg.OpenStdin && cfg.AttachStdin && cfg.StdinOnce);
        Assert.True(req.HostConfig!.AutoRemove);
        Assert.Equal(new List<long> { 24, 80 }, req.HostConfig.ConsoleSize);
        Assert.Equal("b", cfg.Labels!["a"]);
        Assert.Equal(new[] { "X=1" }, cfg.Env);
        Assert.Equal("/w", cfg.WorkingDir);
        Assert.Equal(new[] { "sh" }, cfg.Cmd);
        Assert.Equal("default", req.HostConfig.NetworkMode);
    }

    [Fact]
    public void Publish_spec_splits_ip_host_and_container_port()
    {
        var (key, b) = Assert.Single(RunCommands.ParsePublish("127.0.0.1:8080:80/udp"));
        Assert.Equal("80/udp", key);
        Assert.Equal("127.0.0.1", b.HostIp);
        Assert.Equal("8080", b.HostPort);
    }

    [Fact]
    public void Publish_ranges_map_one_to_one_and_a_host_range_alone_is_kept_for_the_daemon()
    {
        var pairs = RunCommands.ParsePublish("8000-8001:80-81").Select(x => (x.Key, x.Binding.HostPort)).ToList();
        Assert.Equal([("80/tcp", "8000"), ("81/tcp", "8001")], pairs);
        var (key, b) = Assert.Single(RunCommands.ParsePublish("[::1]:9000-9010:53/udp"));
        Assert.Equal(("53/udp", "::1", "9000-9010"), (key, b.HostIp, b.HostPort));
        Assert.Throws<UsageException>(() => RunCommands.ParsePublish("8080:80-81").ToList());
    }

    [Fact]
    public void Network_flags_go_to_the_endpoint_of_the_network_named_by_network()
    {
        var p = ParsedArgs.Parse(RunCommands.All().First(c => c.Name == "run").Flags,
            ["--network", "mynet", "--ip", "10.1.2.3", "--network-alias", "web", "--dns", "9.9.9.9", "--add-host", "db=10.0.0.5", "-P", "busybox"], true);
        var req = RunCommands.BuildCreateRequest(p, detach: true, null);
        var ep = Assert.Single(req.NetworkingConfig!.EndpointsConfig!);
        Assert.Equal("mynet", ep.Key);
        Assert.Equal("10.1.2.3", ep.Value!.IPAMConfig!.IPv4Address);
        Assert.Equal(["web"], ep.Value.Aliases!);
        Assert.Equal(["9.9.9.9"], req.HostConfig!.Dns!);
        Assert.Equal(["db:10.0.0.5"], req.HostConfig.ExtraHosts!);
        Assert.True(req.HostConfig.PublishAllPorts);
    }

    [Fact]
    public void Image_reference_normalises_to_docker_hub_library()
    {
        var r = ImageRef.Parse("busybox");
        Assert.Equal("docker.io/library/busybox", r.FullName);
        Assert.Equal("busybox:latest", r.FamiliarString);
        Assert.Equal("localhost:5000/app", ImageRef.Parse("localhost:5000/app:1").FullName);
    }
}
