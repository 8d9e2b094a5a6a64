using System.Text.Json;
using Berth.Runtime.Json;
using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

public class JsonCodecTests
{
    // Every field of the runtime-spec model, named as the spec names it, each with a value of its own.
    // A field the codec doesn't know by this name would be skipped on read and missing on write.
    const string EveryField = """
        {"ociVersion":"1.2.0",
         "process":{"terminal":true,"consoleSize":{"height":24,"width":80},
           "user":{"uid":1,"gid":2,"umask":18,"additionalGids":[3,4],"username":"u"},
           "args":["sh","-c","x"],"commandLine":"sh -c x","env":["A=b"],"cwd":"/w",
           "capabilities":{"bounding":["CAP_A"],"effective":["CAP_B"],"inheritable":["CAP_C"],"permitted":["CAP_D"],"ambient":["CAP_E"]},
           "rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":5}],
           "noNewPrivileges":true,"apparmorProfile":"ap","oomScoreAdj":-17,"selinuxLabel":"sl",
           "ioPriority":{"class":"IOPRIO_CLASS_RT","priority":3},
           "scheduler":{"policy":"SCHED_FIFO","nice":-2,"priority":9,"flags":["SCHED_FLAG_RESET_ON_FORK"],"runtime":1,"deadline":2,"period":3}},
         "root":{"path":"rootfs","readonly":true},
         "hostname":"h","domainname":"d",
         "mounts":[{"destination":"/m","type":"bind","source":"/s","options":["rbind","ro"]}],
         "hooks":{"prestart":[{"path":"/p","args":["p"],"env":["E=1"],"timeout":5}],"createRuntime":[{"path":"/cr"}],
           "createContainer":[{"path":"/cc"}],"startContainer":[{"path":"/sc"}],"poststart":[{"path":"/ps"}],"poststop":[{"path":"/pt"}]},
         "annotations":{"k":"v"},
         "linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":10}],"gidMappings":[{"containerID":0,"hostID":2000,"size":20}],
           "sysctl":{"net.ipv4.ip_forward":"1"},
           "resources":{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":-1,"access":"r"}],
             "memory":{"limit":1,"reservation":2,"swap":3,"kernel":4,"kernelTCP":5,"swappiness":6,"disableOOMKiller":true,"useHierarchy":false,"checkBeforeUpdate":true},
             "cpu":{"shares":1,"quota":-1,"burst":3,"period":4,"realtimeRuntime":5,"realtimePeriod":6,"cpus":"0-1","mems":"0","idle":1},
             "pids":{"limit":-1},
             "blockIO":{"weight":10,"leafWeight":20,"weightDevice":[{"major":8,"minor":0,"weight":1,"leafWeight":2}],
               "throttleReadBpsDevice":[{"major":8,"minor":1,"rate":1}],"throttleWriteBpsDevice":[{"major":8,"minor":2,"rate":2}],
               "throttleReadIOPSDevice":[{"major":8,"minor":3,"rate":3}],"throttleWriteIOPSDevice":[{"major":8,"minor":4,"rate":4}]},
             "hugepageLimits":[{"pageSize":"2MB","limit":1}],
             "network":{"classID":7,"priorities":[{"name":"eth0","priority":1}]},
             "unified":{"memory.high":"1"}},
           "cgroupsPath":"/berth/x",
           "namespaces":[{"type":"pid"},{"type":"user"},{"type":"network","path":"/proc/1/ns/net"}],
           "devices":[{"path":"/dev/x","type":"c","major":1,"minor":2,"fileMode":438,"uid":0,"gid":0}],
           "seccomp":{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],"flags":["SECCOMP_FILTER_FLAG_LOG"],
             "listenerPath":"/l","listenerMetadata":"m",
             "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":2,"args":[{"index":0,"value":1,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]},
           "rootfsPropagation":"rslave","maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],"mountLabel":"ml",
           "personality":{"domain":"LINUX32","flags":[]}}}
        """;

    [Fact]
    public void Every_spec_field_is_read_and_written_under_its_spec_name()
    {
        var spec = Spec.Parse(EveryField);
        AssertSameJson(EveryField, spec.ToJson());
        Assert.Equal(ulong.MaxValue, spec.Process!.Rlimits![0].Hard);
        Assert.Equal(-17, spec.Process.OomScoreAdj);
        Assert.Equal(1000u, spec.Linux!.UidMappings![0].HostId);
        Assert.True(spec.Linux.Resources!.Memory!.DisableOomKiller);
        Assert.Equal(3UL, spec.Linux.Resources.BlockIO!.ThrottleReadIopsDevice![0].Rate);
        Assert.Equal("/pt", spec.Hooks!.Poststop![0].Path);
    }

    [Fact]
    public void The_config_of_debians_runc_spec_round_trips()
    {
        if (!File.Exists("/usr/sbin/runc")) Assert.Skip("needs Debian's runc (/usr/sbin/runc) to write a spec");
        var dir = Directory.CreateTempSubdirectory("berth-codec-");
        try
        {
            using (var runc = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/usr/sbin/runc", ["spec", "--rootless"]) { WorkingDirectory = dir.FullName })!)
            {
                runc.WaitForExit();
                Assert.Equal(0, runc.ExitCode);
            }
            var text = File.ReadAllText(Path.Combine(dir.FullName, "config.json"));
            AssertSameJson(text, Spec.Parse(text).ToJson());
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Save_writes_indented_json_that_reads_back_the_same()
    {
        var dir = Directory.CreateTempSubdirectory("berth-codec-");
        try
        {
            var path = Path.Combine(dir.FullName, "config.json");
            Spec.Parse(EveryField).Save(path);
            var text = File.ReadAllText(path);
            Assert.Contains("\n  \"process\": {", text);
            AssertSameJson(EveryField, text);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Nulls_are_left_out_and_read_back_as_null()
    {
        var spec = Spec.Parse("""{"ociVersion":"1","hostname":null,"process":{"args":["a"],"cwd":"/","env":null,"oomScoreAdj":null}}""");
        Assert.Null(spec.Hostname);
        Assert.Null(spec.Process!.Env);
        Assert.Null(spec.Process.OomScoreAdj);
        var json = spec.ToJson();
        Assert.DoesNotContain("null", json);
        Assert.DoesNotContain("hostname", json);
        // Value types are written even when default, as before.
        Assert.Contains("\"terminal\":false", json);
    }

    [Fact]
    public void Unknown_fields_are_skipped_whatever_they_hold()
    {
        var spec = Spec.Parse("""
            {"x":{"a":[1,{"b":[[]]}],"c":null},"ociVersion":"1","y":[{"z":1}],"process":{"w":"s","args":["a"],"cwd":"/","v":true}}
            """);
        Assert.Equal("1", spec.OciVersion);
        Assert.Equal(["a"], spec.Process!.Args);
    }

    [Fact]
    public void A_repeated_field_keeps_its_last_value()
    {
        Assert.Equal("second", Spec.Parse("""{"ociVersion":"1","hostname":"first","hostname":"second"}""").Hostname);
    }

    [Theory]
    [InlineData("""{"ociVersion":"1","process":{"user":{"uid":-1},"args":["a"],"cwd":"/"}}""", "process.user.uid", "-1 is not a valid uint32")]
    [InlineData("""{"ociVersion":"1","process":{"user":{"uid":4294967296},"args":["a"],"cwd":"/"}}""", "process.user.uid", "not a valid uint32")]
    [InlineData("""{"ociVersion":"1","process":{"user":{"uid":1.5},"args":["a"],"cwd":"/"}}""", "process.user.uid", "not a valid uint32")]
    [InlineData("""{"ociVersion":"1","process":{"user":{"uid":"0"},"args":["a"],"cwd":"/"}}""", "process.user.uid", "expected a number (uint32), got a string")]
    [InlineData("""{"ociVersion":"1","mounts":[{"destination":"/a"},{"destination":7}]}""", "mounts[1].destination", "expected a string, got a number")]
    [InlineData("""{"ociVersion":"1","process":{"args":["a",["b"]],"cwd":"/"}}""", "process.args[1]", "expected a string, got an array")]
    [InlineData("""{"ociVersion":"1","root":{"path":"r","readonly":"yes"}}""", "root.readonly", "expected a boolean, got a string")]
    [InlineData("""{"ociVersion":"1","linux":{"resources":{"pids":{"limit":null}}}}""", "linux.resources.pids.limit", "expected a number (int64), got null")]
    [InlineData("""{"ociVersion":"1","linux":{"sysctl":{"a":1}}}""", "linux.sysctl.a", "expected a string, got a number")]
    [InlineData("""{"ociVersion":"1","linux":[]}""", "linux", "expected an object, got an array")]
    public void A_value_of_the_wrong_kind_is_refused_naming_its_field(string json, string field, string problem)
    {
        var e = Assert.Throws<SpecException>(() => Spec.Parse(json, "cfg.json"));
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Message);
        Assert.StartsWith($"cfg.json: {field}: ", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("""{"ociVersion":"1"} {}""")]
    [InlineData("""{"ociVersion":"1",}""")]
    [InlineData("""{"ociVersion":"1","process":{"args":["a" "b"]}}""")]
    [InlineData("""{"ociVersion":"1","hostname":"\u00"}""")]
    [InlineData("[1,2]")]
    public void Malformed_documents_give_a_clear_error(string json)
    {
        var e = Assert.Throws<SpecException>(() => Spec.Parse(json, "cfg.json"));
        Assert.StartsWith("cfg.json: ", e.Message);
        Assert.DoesNotContain("LineNumber", e.Message);
    }

    [Fact]
    public void Nesting_beyond_the_reader_depth_is_refused_not_overflowed()
    {
        var deep = "{\"ociVersion\":\"1\",\"x\":" + new string('[', 100_000) + new string(']', 100_000) + "}";
        Assert.Throws<SpecException>(() => Spec.Parse(deep));
    }

    [Fact]
    public void Sync_messages_round_trip_with_the_init_config()
    {
        var config = new InitConfig { Spec = Spec.Parse(EveryField), Rootfs = "/r", BundleDir = "/b", IsExec = true, MountNamespace = "/proc/1/ns/mnt", Id = "c", HostPid = 42, PreservedFds = 2 };
        var bytes = SyncJson.Message.SerializeToUtf8Bytes(new SyncMessage { Type = SyncMessage.Config, InitConfig = config });
        Assert.DoesNotContain((byte)'\n', bytes);
        var back = SyncJson.Message.Deserialize(bytes).InitConfig!;
        Assert.Equal(config with { Spec = back.Spec }, back);
        AssertSameJson(EveryField, back.Spec.ToJson());
    }

    [Fact]
    public void The_c_stage_lines_parse_and_a_bare_message_is_written_as_the_c_stage_expects()
    {
        // src/Berth.Runc/native/userns.c writes these by hand and compares the parent's reply byte for byte.
        var pid = SyncJson.Message.Deserialize("""{"type":"pid","pid":1234}"""u8);
        Assert.Equal((SyncMessage.InitPid, 1234), (pid.Type, pid.Pid));
        Assert.Equal("x y", SyncJson.Message.Deserialize("""{"type":"error","message":"x y"}"""u8).Message);
        Assert.Equal("""{"type":"idmapped"}""", SyncJson.Message.Serialize(new SyncMessage { Type = SyncMessage.IdMapped }));
    }

    [Fact]
    public void Codec_errors_outside_a_spec_name_the_path_too()
    {
        var e = Assert.Throws<JsonCodecException>(() => SyncJson.Message.Deserialize("""{"type":"config","initConfig":{"spec":{"process":{"user":[]}}}}"""u8));
        Assert.Equal("initConfig.spec.process.user", e.Path);
        Assert.Equal("initConfig.spec.process.user: expected an object, got an array", e.Message);
    }

    static void AssertSameJson(string expected, string actual)
    {
        using var a = JsonDocument.Parse(expected);
        using var b = JsonDocument.Parse(actual);
        var difference = Difference(a.RootElement, b.RootElement, "$");
        Assert.True(difference is null, $"{difference}\nexpected: {expected}\nactual: {actual}");
    }

    /// <summary>The first place two documents differ (objects compared as sets of fields), or null.</summary>
    static string? Difference(JsonElement a, JsonElement b, string path)
    {
        if (a.ValueKind != b.ValueKind) return $"{path}: {a.ValueKind} vs {b.ValueKind}";
        switch (a.ValueKind)
        {
            case JsonValueKind.Object:
                var left = a.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
                var right = b.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
                foreach (var name in left.Keys.Union(right.Keys))
                {
                    if (!left.TryGetValue(name, out var l)) return $"{path}.{name}: unexpected";
                    if (!right.TryGetValue(name, out var r)) return $"{path}.{name}: missing";
                    if (Difference(l, r, $"{path}.{name}") is { } d) return d;
                }
                return null;
            case JsonValueKind.Array:
                if (a.GetArrayLength() != b.GetArrayLength()) return $"{path}: {a.GetArrayLength()} items vs {b.GetArrayLength()}";
                for (var i = 0; i < a.GetArrayLength(); i++)
                    if (Difference(a[i], b[i], $"{path}[{i}]") is { } d) return d;
                return null;
            default:
                return a.GetRawText() == b.GetRawText() ? null : $"{path}: {a.GetRawText()} vs {b.GetRawText()}";
        }
    }
}
