using System.Buffers;
using System.Collections;
using System.Text;
using System.Text.Json;
using Berth.Api;
using Berth.Cli.Commands;
using Berth.Cli.Transport;

namespace Berth.Cli.Tests;

/// <summary>
/// The hand-written JSON of the run path: the create body must be byte for byte what the
/// source-generated serialisers write, and the reply readers must turn anything malformed into
/// a <see cref="JsonException"/>.
/// </summary>
public class RunJsonTests
{
    /// <summary>The create body as the source-generated serialisers write it: Config's fields flattened beside HostConfig and NetworkingConfig.</summary>
    static string SourceGenerated(ContainerCreateRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            using var config = JsonSerializer.SerializeToDocument(request.Config, ApiJson.Default.ContainerConfig);
            w.WriteStartObject();
            foreach (var property in config.RootElement.EnumerateObject()) property.WriteTo(w);
            if (request.HostConfig is not null)
            {
                w.WritePropertyName("HostConfig");
                JsonSerializer.Serialize(w, request.HostConfig, ApiJson.Default.HostConfig);
            }
            if (request.NetworkingConfig is not null)
            {
                w.WritePropertyName("NetworkingConfig");
                JsonSerializer.Serialize(w, request.NetworkingConfig, ApiJson.Default.NetworkingConfig);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    static string HandWritten(ContainerCreateRequest request) => Encoding.UTF8.GetString(ContainerCreateJson.Serialize(request));

    [Theory]
    [InlineData("busybox true")]
    [InlineData("--rm -it -e A=1 -e B=<&> -l x=y -w /w -u 1:2 -h host --name n busybox sh -c echo")]
    [InlineData("-d -p 127.0.0.1:8080:80 -p 9000-9001:90-91/udp --expose 7 -v /a:/b -v /vol --entrypoint /bin/sh busybox")]
    [InlineData("--network mynet --ip 10.1.2.3 --network-alias web --link other:alias --dns 1.1.1.1 --add-host h:1.2.3.4 busybox")]
    [InlineData("--memory 64m --cpus 1.5 --pids-limit 10 --privileged --read-only --init --cap-add NET_ADMIN --cap-drop ALL --restart on-failure:3 busybox")]
    [InlineData("--stop-signal SIGUSR1 --stop-timeout 5 --mac-address 02:42:ac:11:00:02 -e é=ü\u2028 busybox echo \"quoted\"")]
    public void Create_body_for_run_flags_matches_the_source_generated_serialiser(string commandLine)
    {
        var flags = RunCommands.All().Single(c => c.Name == "run").Flags;
        var p = ParsedArgs.Parse(flags, commandLine.Split(' '), stopAtFirstPositional: true);
        var request = RunCommands.BuildCreateRequest(p, p.Bool("detach"), (24, 80));
        Assert.Equal(SourceGenerated(request), HandWritten(request));
    }

    [Fact]
    public void Create_body_with_every_property_set_matches_the_source_generated_serialiser()
    {
        // Every settable property gets a non-default value, so a property added to the API types
        // but not to the hand-written writer shows up here as a difference.
        var request = new ContainerCreateRequest
        {
            Config = (ContainerConfig)Fill(typeof(ContainerConfig), 0)!,
            HostConfig = (HostConfig?)Fill(typeof(HostConfig), 0),
            NetworkingConfig = (NetworkingConfig?)Fill(typeof(NetworkingConfig), 0),
        };
        var expected = SourceGenerated(request);
        Assert.Contains("\"ArgsEscaped\":true", expected);
        Assert.Contains("\"Mounts\":[", expected);
        Assert.Equal(expected, HandWritten(request));
    }

    [Fact]
    public void Create_body_with_nulls_everywhere_matches_the_source_generated_serialiser()
    {
        var request = new ContainerCreateRequest
        {
            Config = new ContainerConfig(),
            HostConfig = new HostConfig { LogConfig = null!, RestartPolicy = null! },
            NetworkingConfig = new NetworkingConfig(),
        };
        Assert.Equal(SourceGenerated(request), HandWritten(request));
        var bare = new ContainerCreateRequest { Config = new ContainerConfig { Image = "busybox" } };
        Assert.Equal(SourceGenerated(bare), HandWritten(bare));
    }

    [Fact]
    public void Create_body_reads_back_through_the_daemons_deserialiser_unchanged()
    {
        var flags = RunCommands.All().Single(c => c.Name == "run").Flags;
        var p = ParsedArgs.Parse(flags, "--rm -e A=1 -p 80:80 -l k=v busybox sh -c true".Split(' '), true);
        var body = ContainerCreateJson.Serialize(RunCommands.BuildCreateRequest(p, false, null));
        var read = JsonSerializer.Deserialize(body, ApiJson.Default.ContainerCreateRequest)!;
        Assert.Equal(Encoding.UTF8.GetString(body), HandWritten(read));
        Assert.Equal(new[] { "sh", "-c", "true" }, read.Config.Cmd);
        Assert.True(read.HostConfig!.AutoRemove);
    }

    /// <summary>A value of <paramref name="type"/> with every property set; lists and maps also hold a null where they may.</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2067", Justification = "tests run on the JIT, untrimmed")]
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "tests run on the JIT, untrimmed")]
    static object? Fill(Type type, int depth)
    {
        var nullable = Nullable.GetUnderlyingType(type);
        if (nullable is not null) return Fill(nullable, depth);
        if (type == typeof(string)) return "s<\"é\u2028>";
        if (type == typeof(bool)) return true;
        if (type == typeof(int)) return -7;
        if (type == typeof(long)) return 1L << 40;
        if (type == typeof(ushort)) return (ushort)500;
        if (type == typeof(ulong)) return ulong.MaxValue;
        if (type == typeof(object)) return null;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var element = type.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(type)!;
            list.Add(Fill(element, depth + 1));
            if (!element.IsValueType) list.Add(null);
            return list;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            var value = type.GetGenericArguments()[1];
            var map = (IDictionary)Activator.CreateInstance(type)!;
            map["k<1>"] = Fill(value, depth + 1);
            if (!value.IsValueType) map["k2"] = null;
            return map;
        }
        Assert.True(depth < 5, $"unexpected nesting at {type}");
        var obj = Activator.CreateInstance(type)!;
        foreach (var property in type.GetProperties().Where(p => p.CanWrite))
            property.SetValue(obj, Fill(property.PropertyType, depth + 1));
        return obj;
    }

    [Fact]
    public void Create_response_reads_id_and_warnings_case_insensitively_skipping_unknown_fields()
    {
        var r = ReplyJson.ReadCreateResponse("""{"id":"abc","Extra":{"a":[1,{"b":null}]},"WARNINGS":["w1","w\u00e9"]} """u8);
        Assert.Equal("abc", r.Id);
        Assert.Equal(new[] { "w1", "wé" }, r.Warnings);
        Assert.Null(ReplyJson.ReadCreateResponse("""{"Id":"x","Warnings":null}"""u8).Warnings);
    }

    [Fact]
    public void Wait_response_reads_status_and_error_message()
    {
        var ok = ReplyJson.ReadWaitResponse("""{"StatusCode":0,"Error":null}"""u8);
        Assert.Equal(0, ok.StatusCode);
        Assert.Null(ok.Error);
        var failed = ReplyJson.ReadWaitResponse("""{"Error":{"Message":"boom","x":1},"statuscode":137}"""u8);
        Assert.Equal(137, failed.StatusCode);
        Assert.Equal("boom", failed.Error!.Message);
    }

    [Fact]
    public void Error_body_reads_its_message()
    {
        Assert.Equal("No such container: x", ReplyJson.ReadErrorMessage("""{"message":"No such container: x"}"""u8));
        Assert.Equal("", ReplyJson.ReadErrorMessage("{}"u8));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("\"Id\"")]
    [InlineData("{\"Id\":")]
    [InlineData("{\"Id\":\"abc\"")]
    [InlineData("{\"Id\":\"abc\"}{}")]
    [InlineData("{\"Id\":\"abc\"} x")]
    [InlineData("{\"Id\":5}")]
    [InlineData("{\"Id\":\"a\",\"Warnings\":\"w\"}")]
    [InlineData("{\"Id\":\"a\",\"Warnings\":[1]}")]
    [InlineData("{\"Id\":\"a\",\"Warnings\":[null]}")]
    [InlineData("{\"Id\":\"\\ud800x\"}")]
    [InlineData("{Id:\"a\"}")]
    [InlineData("\xff\xfe")]
    public void Malformed_create_response_is_a_json_error(string body)
    {
        Assert.ThrowsAny<JsonException>(() => ReplyJson.ReadCreateResponse(Encoding.Latin1.GetBytes(body)));
    }

    [Theory]
    [InlineData("{\"StatusCode\":\"0\"}")]
    [InlineData("{\"StatusCode\":1.5}")]
    [InlineData("{\"StatusCode\":99999999999999999999}")]
    [InlineData("{\"StatusCode\":0,\"Error\":\"boom\"}")]
    [InlineData("{\"StatusCode\":0,\"Error\":{\"Message\":[]}}")]
    [InlineData("{\"StatusCode\":0,\"Error\":{\"Message\":\"x\"}")]
    public void Malformed_wait_response_is_a_json_error(string body)
    {
        Assert.ThrowsAny<JsonException>(() => ReplyJson.ReadWaitResponse(Encoding.UTF8.GetBytes(body)));
    }

    [Fact]
    public void Deeply_nested_unknown_field_is_a_json_error_not_a_crash()
    {
        var body = "{\"Id\":\"a\",\"x\":" + new string('[', 100_000) + new string(']', 100_000) + "}";
        Assert.ThrowsAny<JsonException>(() => ReplyJson.ReadCreateResponse(Encoding.UTF8.GetBytes(body)));
        Assert.ThrowsAny<JsonException>(() => ReplyJson.ReadErrorMessage(Encoding.UTF8.GetBytes("{\"message\":" + new string('{', 5000))));
    }
}
