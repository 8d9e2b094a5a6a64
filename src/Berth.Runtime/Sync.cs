using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Runtime.Oci;

namespace Berth.Runtime;

// The parent <-> init protocol over the socket that init sees as fd 3. One JSON object per line:
//   parent -> init : config            init -> parent : ready | error
//   parent -> init : start             init -> parent : EOF (exec succeeded: fd 3 is close-on-exec) | error

/// <summary>What init needs beyond the spec: where the rootfs and bundle are on the host.</summary>
public sealed class InitConfig
{
    public required Spec Spec { get; init; }
    public required string Rootfs { get; init; }
    public required string BundleDir { get; init; }
    /// <summary>Start a process in an existing container instead of building one.</summary>
    public bool IsExec { get; init; }
    /// <summary>For exec: the container's mount namespace, which init enters itself.</summary>
    public string? MountNamespace { get; init; }
}

public sealed class SyncMessage
{
    public const string Config = "config", Ready = "ready", Start = "start", Error = "error";

    public required string Type { get; init; }
    public string? Message { get; init; }
    public InitConfig? InitConfig { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SyncMessage))]
internal sealed partial class SyncJson : JsonSerializerContext;

/// <summary>One end of the sync socket.</summary>
public sealed class SyncChannel : IDisposable
{
    public const int InitFd = 3;

    readonly Socket socket;
    readonly NetworkStream stream;
    readonly StreamReader reader;

    public SyncChannel(int fd)
    {
        socket = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        stream = new NetworkStream(socket, ownsSocket: true);
        reader = new StreamReader(stream);
    }

    public void Send(SyncMessage message)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(message, SyncJson.Default.SyncMessage);
        stream.Write(bytes);
        stream.WriteByte((byte)'\n');
    }

    /// <summary>The next message, or null at EOF (the peer exec'd or exited).</summary>
    public SyncMessage? Receive()
    {
        string? line;
        try { line = reader.ReadLine(); }
        catch (IOException) { return null; }
        return line is null ? null : JsonSerializer.Deserialize(line, SyncJson.Default.SyncMessage);
    }

    public void Dispose() => reader.Dispose();
}
