using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

public class SpecTests
{
    [Fact]
    public void Default_spec_round_trips_through_json()
    {
        var json = DefaultSpec.Create(["echo", "hi"]).ToJson();
        var back = Spec.Parse(json);
        Assert.Equal(["echo", "hi"], back.Process!.Args);
        Assert.Equal(json, back.ToJson());
    }

    [Fact]
    public void Json_uses_the_spec_field_names()
    {
        var spec = DefaultSpec.Create();
        spec.Linux!.Resources!.BlockIO = new LinuxBlockIO { ThrottleReadIopsDevice = [new LinuxThrottleDevice { Major = 8, Rate = 1 }] };
        spec.Linux.Resources.Memory = new LinuxMemory { DisableOomKiller = true, KernelTcp = 1 };
        spec.Linux.UidMappings = [new LinuxIdMapping { ContainerId = 0, HostId = 1000, Size = 1 }];
        spec.Linux.CgroupsPath = "/berth/x";
        var json = spec.ToJson();
        foreach (var name in new[] { "\"ociVersion\"", "\"blockIO\"", "\"throttleReadIOPSDevice\"", "\"disableOOMKiller\"",
                     "\"kernelTCP\"", "\"containerID\"", "\"hostID\"", "\"cgroupsPath\"", "\"noNewPrivileges\"", "\"maskedPaths\"" })
            Assert.Contains(name, json);
    }

    [Fact]
    public void Parse_reads_a_runc_style_config()
    {
        const string json = """
            {"ociVersion":"1.0.2","process":{"terminal":false,"user":{"uid":1000,"gid":100,"additionalGids":[5]},
             "args":["sh"],"env":["A=b"],"cwd":"/tmp","rlimits":[{"type":"RLIMIT_NOFILE","hard":10,"soft":5}],
             "capabilities":{"bounding":["CAP_KILL"],"ambient":[]}},
             "root":{"path":"rootfs","readonly":true},"hostname":"h","somethingNew":{"x":1},
             "linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}],
              "resources":{"memory":{"limit":1048576},"cpu":{"shares":512,"quota":50000,"period":100000},"pids":{"limit":10}},
              "seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}}}
            """;
        var spec = Spec.Parse(json);
        Assert.Equal(1000u, spec.Process!.User.Uid);
        Assert.Equal([5u], spec.Process.User.AdditionalGids!);
        Assert.True(spec.Root!.Readonly);
        Assert.Equal("/proc/1/ns/net", spec.Linux!.Namespaces![1].Path);
        Assert.Equal(1048576, spec.Linux.Resources!.Memory!.Limit);
        Assert.Equal(50000, spec.Linux.Resources.Cpu!.Quota);
        Assert.Equal("SCMP_CMP_EQ", spec.Linux.Seccomp!.Syscalls![0].Args![0].Op);
    }

    [Fact]
    public void Parse_error_names_the_field_with_the_wrong_type()
    {
        var e = Assert.Throws<SpecException>(() => Spec.Parse("""{"ociVersion":"1.0.2","process":{"user":{"uid":"root"},"args":["sh"],"cwd":"/"}}"""));
        Assert.Equal("process.user.uid", e.Field);
        Assert.Contains("process.user.uid", e.Message);
    }

    [Fact]
    public void Validate_rejects_missing_args_and_relative_cwd_and_unknown_names()
    {
        Assert.Equal("process.args", Assert.Throws<SpecException>(() => Spec.Parse("""{"ociVersion":"1","process":{"args":[],"cwd":"/"}}""")).Field);
        Assert.Equal("process.cwd", Assert.Throws<SpecException>(() => Spec.Parse("""{"ociVersion":"1","process":{"args":["sh"],"cwd":"tmp"}}""")).Field);
        Assert.Equal("linux.namespaces[0].type", Assert.Throws<SpecException>(() => Spec.Parse("""{"ociVersion":"1","linux":{"namespaces":[{"type":"bogus"}]}}""")).Field);
        Assert.Equal("process.rlimits[0].type", Assert.Throws<SpecException>(() => Spec.Parse("""{"ociVersion":"1","process":{"args":["sh"],"cwd":"/","rlimits":[{"type":"RLIMIT_X","hard":1,"soft":1}]}}""")).Field);
    }

    [Fact]
    public void Load_and_save_use_the_file_and_name_it_in_errors()
    {
        var dir = Directory.CreateTempSubdirectory("berth-spec-");
        try
        {
            var path = Path.Combine(dir.FullName, "config.json");
            DefaultSpec.Create(["true"]).Save(path);
            Assert.Equal(["true"], Spec.Load(path).Process!.Args);
            File.WriteAllText(path, "{not json");
            Assert.Contains(path, Assert.Throws<SpecException>(() => Spec.Load(path)).Message);
            Assert.Contains("missing.json", Assert.Throws<SpecException>(() => Spec.Load(Path.Combine(dir.FullName, "missing.json"))).Message);
        }
        finally { dir.Delete(true); }
    }
}
