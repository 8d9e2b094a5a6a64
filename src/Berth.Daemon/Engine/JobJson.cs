using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Berth.Daemon.Engine;

/// <summary>Reads a job's JSON input with a size bound, turning bad input into 400s.</summary>
public static class JobJson
{
    const int MaxBody = 16 << 20;

    /// <summary>Parses the body; null when it is empty and <paramref name="allowEmpty"/>.</summary>
    public static async Task<T?> ReadAsync<T>(Job job, JsonTypeInfo<T> type, bool allowEmpty = false) where T : class
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await job.Stdin.ReadAsync(chunk, job.Cancelled)) > 0)
        {
            if (buffer.Length + n > MaxBody) throw ApiException.BadRequest("request body too large");
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0 || buffer.ToArray().All(b => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t'))
        {
            if (allowEmpty) return null;
            throw ApiException.BadRequest("request body is empty: expected a JSON object");
        }
        try
        {
            return JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type)
                ?? (allowEmpty ? null : throw ApiException.BadRequest("request body is null: expected a JSON object"));
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"invalid JSON: {e.Message}");
        }
    }
}
