using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Shim.Client;

// The wire protocol between berthd and berth-shim: one JSON request line per connection, answered by one
// JSON reply line. Both sides share these types so the two can never drift apart.

/// <summary>A request to the shim. Only the fields that matter for <see cref="Op"/> are read.</summary>
public sealed class ShimRequest
{
    public string? Op { get; set; }
    public bool Stdin { get; set; }
    public bool Stdout { get; set; }
    public bool Stderr { get; set; }
    public bool CloseStdinOnEof { get; set; }
    public int Signal { get; set; }
    public int Height { get; set; }
    public int Width { get; set; }
}

public static class ShimOps
{
    public const string Start = "start", Attach = "attach", Wait = "wait", Kill = "kill", Resize = "resize", State = "state";
}

public sealed class ShimReply
{
    public bool Ok { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; set; }

    public static ShimReply Success { get; } = new() { Ok = true };
    public static ShimReply Failure(string error) => new() { Ok = false, Error = error };
}

public static class ShimStatus
{
    public const string Created = "created", Running = "running", Exited = "exited";
}

public sealed class ShimState
{
    public int Pid { get; set; }
    public string Status { get; set; } = ShimStatus.Created;
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ExitCode { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false)]
[JsonSerializable(typeof(ShimRequest))]
[JsonSerializable(typeof(ShimReply))]
[JsonSerializable(typeof(ShimState))]
[JsonSerializable(typeof(ExitInfo))]
[JsonSerializable(typeof(LogEntry))]
[JsonSerializable(typeof(string[]))]
public sealed partial class ShimJsonContext : JsonSerializerContext;

/// <summary>Reading and writing the single-line messages of the protocol.</summary>
public static class ShimWire
{
    /// <summary>Longest request or reply line either side accepts; anything longer is hostile or broken.</summary>
    public const int MaxLineBytes = 64 * 1024;

    public static byte[] Encode<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, type);
        var line = new byte[bytes.Length + 1];
        bytes.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        return line;
    }

    /// <summary>
    /// Reads one line without consuming anything after its newline: after an attach reply the same
    /// stream carries raw container output. On a socket it peeks to find the newline and then takes
    /// exactly that much (two syscalls a line); other streams are read a byte at a time.
    /// Returns null at EOF before any byte.
    /// </summary>
    public static async Task<byte[]?> ReadLineAsync(Stream stream, CancellationToken ct = default)
    {
        if (stream is System.Net.Sockets.NetworkStream { Socket: var socket })
            return await ReadLineAsync(socket, ct).ConfigureAwait(false);
        var buffer = new MemoryStream();
        var one = new byte[1];
        while (true)
        {
            int n = await stream.ReadAsync(one, ct).ConfigureAwait(false);
            if (n == 0) return buffer.Length == 0 ? null : buffer.ToArray();
            if (one[0] == (byte)'\n') return buffer.ToArray();
            if (buffer.Length >= MaxLineBytes) throw new InvalidDataException($"line longer than {MaxLineBytes} bytes");
            buffer.WriteByte(one[0]);
        }
    }

    static async Task<byte[]?> ReadLineAsync(System.Net.Sockets.Socket socket, CancellationToken ct)
    {
        var line = new MemoryStream();
        var peek = new byte[4096];
        while (true)
        {
            int n = await socket.ReceiveAsync(peek, System.Net.Sockets.SocketFlags.Peek, ct).ConfigureAwait(false);
            if (n == 0) return line.Length == 0 ? null : line.ToArray();
            int newline = Array.IndexOf(peek, (byte)'\n', 0, n);
            // Bytes before a newline all belong to this line, so a partial line is safe to take too.
            int take = newline >= 0 ? newline + 1 : n;
            for (int got = 0; got < take;)
            {
                int r = await socket.ReceiveAsync(peek.AsMemory(got, take - got), System.Net.Sockets.SocketFlags.None, ct).ConfigureAwait(false);
                if (r == 0) throw new IOException("connection closed in the middle of a line");
                got += r;
            }
            line.Write(peek, 0, newline >= 0 ? newline : take);
            if (line.Length > MaxLineBytes) throw new InvalidDataException($"line longer than {MaxLineBytes} bytes");
            if (newline >= 0) return line.ToArray();
        }
    }
}
