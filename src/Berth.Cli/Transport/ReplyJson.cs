using System.Text.Json;
using Berth.Api;

namespace Berth.Cli.Transport;

/// <summary>
/// Readers for the daemon's small replies that every <c>run</c> reads: the create response, the
/// wait result and error bodies. They use <see cref="Utf8JsonReader"/> directly because building
/// System.Text.Json's metadata for even these tiny types costs a <c>run</c> more CPU than reading
/// them. Like Go's decoder (and <see cref="ApiJson"/>), names match case-insensitively and unknown
/// fields are skipped. Anything malformed, truncated or of the wrong shape throws
/// <see cref="JsonException"/> with a message saying what was expected.
/// </summary>
public static class ReplyJson
{
    public static ContainerCreateResponse ReadCreateResponse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        var result = new ContainerCreateResponse();
        StartDocument(ref reader, "container create response");
        while (NextProperty(ref reader, out var name))
        {
            if (name.Equals("Id", StringComparison.OrdinalIgnoreCase)) result.Id = ReadString(ref reader, name) ?? "";
            else if (name.Equals("Warnings", StringComparison.OrdinalIgnoreCase)) result.Warnings = ReadStrings(ref reader, name)!;
            else reader.Skip();
        }
        EndDocument(ref reader);
        return result;
    }

    public static ContainerWaitResponse ReadWaitResponse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        var result = new ContainerWaitResponse();
        StartDocument(ref reader, "container wait response");
        while (NextProperty(ref reader, out var name))
        {
            if (name.Equals("StatusCode", StringComparison.OrdinalIgnoreCase))
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var code))
                    throw new JsonException($"\"{name}\" should be an integer");
                result.StatusCode = code;
            }
            else if (name.Equals("Error", StringComparison.OrdinalIgnoreCase))
                result.Error = reader.TokenType == JsonTokenType.Null ? null : new WaitError { Message = ReadMessageObject(ref reader, name, "Message") };
            else reader.Skip();
        }
        EndDocument(ref reader);
        return result;
    }

    /// <summary>The <c>message</c> of an error body (<c>{"message":"..."}</c>).</summary>
    public static string ReadErrorMessage(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        StartDocument(ref reader, "error response");
        var message = ReadMessageObject(ref reader, "error response", "message");
        EndDocument(ref reader);
        return message;
    }

    /// <summary>An object whose one field of interest is a string; the reader is on its StartObject and ends on its EndObject.</summary>
    static string ReadMessageObject(ref Utf8JsonReader reader, string what, string field)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException($"\"{what}\" should be an object");
        string message = "";
        while (NextProperty(ref reader, out var name))
        {
            if (name.Equals(field, StringComparison.OrdinalIgnoreCase)) message = ReadString(ref reader, name) ?? "";
            else reader.Skip();
        }
        return message;
    }

    static void StartDocument(ref Utf8JsonReader reader, string what)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException($"the {what} is not a JSON object");
    }

    /// <summary>Only whitespace may follow the object; the reader itself rejects a second value.</summary>
    static void EndDocument(ref Utf8JsonReader reader)
    {
        if (reader.Read()) throw new JsonException("unexpected data after the JSON object");
    }

    /// <summary>Moves to the next property's value; false at the end of the object.</summary>
    static bool NextProperty(ref Utf8JsonReader reader, out string name)
    {
        if (!reader.Read()) throw new JsonException("the JSON object is truncated");
        if (reader.TokenType == JsonTokenType.EndObject)
        {
            name = "";
            return false;
        }
        name = GetString(ref reader);
        if (!reader.Read()) throw new JsonException("the JSON object is truncated");
        return true;
    }

    static string? ReadString(ref Utf8JsonReader reader, string name) => reader.TokenType switch
    {
        JsonTokenType.String => GetString(ref reader),
        JsonTokenType.Null => null,
        _ => throw new JsonException($"\"{name}\" should be a string"),
    };

    /// <summary>The reader throws InvalidOperationException for escapes that decode to invalid UTF-16 (a lone surrogate); that is malformed JSON too.</summary>
    static string GetString(ref Utf8JsonReader reader)
    {
        try { return reader.GetString()!; }
        catch (InvalidOperationException e) { throw new JsonException(e.Message, e); }
    }

    static List<string>? ReadStrings(ref Utf8JsonReader reader, string name)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException($"\"{name}\" should be an array of strings");
        var list = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            list.Add(ReadString(ref reader, name) ?? throw new JsonException($"\"{name}\" should be an array of strings"));
        return list;
    }
}
