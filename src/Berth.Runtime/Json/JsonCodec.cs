using System.Buffers;
using System.Collections;
using System.Text;
using System.Text.Json;

namespace Berth.Runtime.Json;

// Reflection-free JSON for the runtime's own documents: the OCI spec, the parent/init sync messages,
// berth-runc's state. Every runtime process reads a spec on the container start path (berth-runc
// run/create, berth-shim, and init again), and in a NativeAOT process System.Text.Json's serializer
// spends milliseconds per process configuring type metadata (it reads attributes by reflection for
// each of the spec's ~40 types) before it parses a byte: the largest CPU item of a container start.
// Here each type is a table of fields over Utf8JsonReader/Utf8JsonWriter, built once per process
// with no reflection. Semantics follow System.Text.Json's defaults as the spec types used them:
// case-sensitive names, unknown fields skipped, nulls left out when writing, numbers strict
// (no strings, no fractions, no overflow), duplicate fields last-wins, no trailing content.

/// <summary>Reads and writes one JSON value as a <typeparamref name="T"/>.</summary>
public abstract class JsonCodec<T>
{
    /// <summary>Reads the value whose first token the reader is on; leaves the reader on its last token.</summary>
    public abstract T Read(ref Utf8JsonReader reader);

    public abstract void Write(Utf8JsonWriter writer, T value);

    public T Deserialize(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8);
        try
        {
            if (!reader.Read()) throw new JsonCodecException("the document is empty");
            var value = Read(ref reader);
            if (reader.Read()) throw new JsonCodecException("unexpected content after the value");
            return value;
        }
        catch (JsonException e) { throw new JsonCodecException(JsonCodecException.WithoutPosition(e.Message)); }
    }

    public T Deserialize(string json) => Deserialize(Encoding.UTF8.GetBytes(json));

    public byte[] SerializeToUtf8Bytes(T value, bool indented = false)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented })) Write(writer, value);
        return buffer.WrittenSpan.ToArray();
    }

    public string Serialize(T value, bool indented = false) => Encoding.UTF8.GetString(SerializeToUtf8Bytes(value, indented));
}

/// <summary>A document that doesn't fit its type. <see cref="Path"/> is the field, "process.user.uid" or "mounts[2].type".</summary>
public sealed class JsonCodecException(string problem) : Exception(problem)
{
    string path = "";

    public string Path => path;
    public string Problem { get; } = problem;

    public override string Message => path.Length == 0 ? Problem : $"{path}: {Problem}";

    // The reader's messages end in "LineNumber: 0 | BytePositionInLine: 5."; the field path says more.
    internal static string WithoutPosition(string message)
    {
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    /// <summary>Prefixes the path with the enclosing field name or "[index]"; called as the exception unwinds outwards.</summary>
    internal JsonCodecException Within(string segment)
    {
        path = path.Length == 0 ? segment : path[0] == '[' ? segment + path : $"{segment}.{path}";
        return this;
    }
}

/// <summary>The codecs for JSON's scalars and containers; objects are <see cref="ObjectCodec{T}"/>.</summary>
public static class Codecs
{
    public static readonly JsonCodec<string> String = new StringCodec();
    public static readonly JsonCodec<bool> Bool = new BoolCodec();
    public static readonly JsonCodec<int> Int32 = new NumberCodec<int>("int32", (ref Utf8JsonReader r, out int v) => r.TryGetInt32(out v), (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<uint> UInt32 = new NumberCodec<uint>("uint32", (ref Utf8JsonReader r, out uint v) => r.TryGetUInt32(out v), (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<long> Int64 = new NumberCodec<long>("int64", (ref Utf8JsonReader r, out long v) => r.TryGetInt64(out v), (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<ulong> UInt64 = new NumberCodec<ulong>("uint64", (ref Utf8JsonReader r, out ulong v) => r.TryGetUInt64(out v), (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<ushort> UInt16 = new NumberCodec<ushort>("uint16", (ref Utf8JsonReader r, out ushort v) => r.TryGetUInt16(out v), (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<DateTime> DateTime = new DateTimeCodec();

    public static readonly JsonCodec<int?> NullableInt32 = Nullable(Int32);
    public static readonly JsonCodec<uint?> NullableUInt32 = Nullable(UInt32);
    public static readonly JsonCodec<long?> NullableInt64 = Nullable(Int64);
    public static readonly JsonCodec<ulong?> NullableUInt64 = Nullable(UInt64);
    public static readonly JsonCodec<ushort?> NullableUInt16 = Nullable(UInt16);
    public static readonly JsonCodec<bool?> NullableBool = Nullable(Bool);

    public static readonly JsonCodec<List<string>> StringList = ListOf(String);
    public static readonly JsonCodec<List<uint>> UInt32List = ListOf(UInt32);
    public static readonly JsonCodec<List<int>> Int32List = ListOf(Int32);
    public static readonly JsonCodec<Dictionary<string, string>> StringMap = new StringMapCodec();

    public static JsonCodec<T?> Nullable<T>(JsonCodec<T> inner) where T : struct => new NullableCodec<T>(inner);

    public static JsonCodec<List<T>> ListOf<T>(JsonCodec<T> element) => new ListCodec<T>(element);

    internal static JsonCodecException Expected(string what, JsonTokenType got) =>
        new($"expected {what}, got {got switch
        {
            JsonTokenType.String => "a string",
            JsonTokenType.Number => "a number",
            JsonTokenType.True or JsonTokenType.False => "a boolean",
            JsonTokenType.Null => "null",
            JsonTokenType.StartObject => "an object",
            JsonTokenType.StartArray => "an array",
            _ => got.ToString(),
        }}");

    sealed class StringCodec : JsonCodec<string>
    {
        public override string Read(ref Utf8JsonReader reader) => reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString()!,
            JsonTokenType.Null => null!,
            var t => throw Expected("a string", t),
        };

        public override void Write(Utf8JsonWriter writer, string value) => writer.WriteStringValue(value);
    }

    sealed class BoolCodec : JsonCodec<bool>
    {
        public override bool Read(ref Utf8JsonReader reader) => reader.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False => false,
            var t => throw Expected("a boolean", t),
        };

        public override void Write(Utf8JsonWriter writer, bool value) => writer.WriteBooleanValue(value);
    }

    internal delegate bool TryGet<T>(ref Utf8JsonReader reader, out T value);

    sealed class NumberCodec<T>(string name, TryGet<T> tryGet, Action<Utf8JsonWriter, T> write) : JsonCodec<T>
    {
        public override T Read(ref Utf8JsonReader reader)
        {
            if (reader.TokenType != JsonTokenType.Number) throw Expected($"a number ({name})", reader.TokenType);
            if (!tryGet(ref reader, out var value))
                throw new JsonCodecException($"{Encoding.UTF8.GetString(reader.ValueSpan)} is not a valid {name}");
            return value;
        }

        public override void Write(Utf8JsonWriter writer, T value) => write(writer, value);
    }

    sealed class DateTimeCodec : JsonCodec<DateTime>
    {
        public override DateTime Read(ref Utf8JsonReader reader)
        {
            if (reader.TokenType != JsonTokenType.String) throw Expected("a date and time string", reader.TokenType);
            return reader.TryGetDateTime(out var value) ? value : throw new JsonCodecException($"\"{reader.GetString()}\" is not an ISO 8601 date and time");
        }

        public override void Write(Utf8JsonWriter writer, DateTime value) => writer.WriteStringValue(value);
    }

    sealed class NullableCodec<T>(JsonCodec<T> inner) : JsonCodec<T?> where T : struct
    {
        public override T? Read(ref Utf8JsonReader reader) => reader.TokenType == JsonTokenType.Null ? null : inner.Read(ref reader);

        public override void Write(Utf8JsonWriter writer, T? value)
        {
            if (value is { } v) inner.Write(writer, v);
            else writer.WriteNullValue();
        }
    }

    sealed class ListCodec<T>(JsonCodec<T> element) : JsonCodec<List<T>>
    {
        public override List<T> Read(ref Utf8JsonReader reader)
        {
            if (reader.TokenType == JsonTokenType.Null) return null!;
            if (reader.TokenType != JsonTokenType.StartArray) throw Expected("an array", reader.TokenType);
            var list = new List<T>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                try { list.Add(element.Read(ref reader)); }
                catch (JsonCodecException e) { throw e.Within($"[{list.Count}]"); }
            }
            return list;
        }

        public override void Write(Utf8JsonWriter writer, List<T> value)
        {
            writer.WriteStartArray();
            foreach (var item in value) element.Write(writer, item);
            writer.WriteEndArray();
        }
    }

    sealed class StringMapCodec : JsonCodec<Dictionary<string, string>>
    {
        public override Dictionary<string, string> Read(ref Utf8JsonReader reader)
        {
            if (reader.TokenType == JsonTokenType.Null) return null!;
            if (reader.TokenType != JsonTokenType.StartObject) throw Expected("an object", reader.TokenType);
            var map = new Dictionary<string, string>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var key = reader.GetString()!;
                reader.Read();
                if (reader.TokenType != JsonTokenType.String) throw Expected("a string", reader.TokenType).Within(key);
                map[key] = reader.GetString()!;
            }
            return map;
        }

        public override void Write(Utf8JsonWriter writer, Dictionary<string, string> value)
        {
            writer.WriteStartObject();
            foreach (var (key, item) in value) writer.WriteString(key, item);
            writer.WriteEndObject();
        }
    }
}

/// <summary>
/// A JSON object as a class: its fields in the order they are written, each with its name, codec and
/// accessors. Declared with a collection initializer: <c>new ObjectCodec&lt;User&gt;(() =&gt; new()) { { "uid", Codecs.UInt32, o =&gt; o.Uid, (o, v) =&gt; o.Uid = v } }</c>.
/// A field whose value is null is left out when writing.
/// </summary>
public sealed class ObjectCodec<T>(Func<T> create) : JsonCodec<T>, IEnumerable where T : class
{
    abstract class Field(string name)
    {
        public readonly string Name = name;
        // Raw UTF-8, not JsonEncodedText: encoding names up front builds the escaping tables in every
        // process, init included, which never writes a field name.
        public readonly byte[] Utf8Name = Encoding.UTF8.GetBytes(name);
        public abstract void Read(ref Utf8JsonReader reader, T target);
        public abstract void Write(Utf8JsonWriter writer, T source);
    }

    sealed class Field<TValue>(string name, JsonCodec<TValue> codec, Func<T, TValue?> get, Action<T, TValue?> set) : Field(name)
    {
        public override void Read(ref Utf8JsonReader reader, T target) => set(target, codec.Read(ref reader));

        public override void Write(Utf8JsonWriter writer, T source)
        {
            var value = get(source);
            if (value is null) return;
            writer.WritePropertyName(Utf8Name);
            codec.Write(writer, value);
        }
    }

    readonly List<Field> fields = [];

    public void Add<TValue>(string name, JsonCodec<TValue> codec, Func<T, TValue?> get, Action<T, TValue?> set) =>
        fields.Add(new Field<TValue>(name, codec, get, set));

    public override T Read(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return null!;
        if (reader.TokenType != JsonTokenType.StartObject) throw Codecs.Expected("an object", reader.TokenType);
        var target = create();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var field = Find(ref reader);
            reader.Read();
            if (field is null)
            {
                reader.Skip();
                continue;
            }
            try { field.Read(ref reader, target); }
            catch (JsonCodecException e) { throw e.Within(field.Name); }
            catch (JsonException e) { throw new JsonCodecException(JsonCodecException.WithoutPosition(e.Message)).Within(field.Name); }
        }
        return target;
    }

    Field? Find(ref Utf8JsonReader reader)
    {
        foreach (var field in fields)
            if (reader.ValueTextEquals(field.Utf8Name))
                return field;
        return null;
    }

    public override void Write(Utf8JsonWriter writer, T value)
    {
        writer.WriteStartObject();
        foreach (var field in fields) field.Write(writer, value);
        writer.WriteEndObject();
    }

    IEnumerator IEnumerable.GetEnumerator() => fields.GetEnumerator();
}
