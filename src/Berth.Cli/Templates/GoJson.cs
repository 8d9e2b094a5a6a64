using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Berth.Cli.Templates;

/// <summary>
/// A formatter row (one container of <c>ps</c>, one image of <c>images</c>): named values the
/// template reads as <c>.ID</c>, <c>.Names</c>… Keys are sorted so <c>{{json .}}</c> matches Go's map encoding.
/// </summary>
public sealed class Row : SortedDictionary<string, object?>
{
    public Row() : base(StringComparer.Ordinal) { }

    /// <summary>
    /// The header row's <c>{{.Label "com.example.some-key"}}</c>: docker titles the column with the
    /// key's last dotted part, dashes and underscores as spaces ("some key").
    /// </summary>
    public static readonly RowMethod LabelHeader = args =>
        args.Count == 1 ? GoJson.Print(args[0]).Split('.')[^1].Replace('-', ' ').Replace('_', ' ') : "";
}

/// <summary>A method a row offers with arguments, such as <c>{{.Label "key"}}</c>.</summary>
public delegate object? RowMethod(IReadOnlyList<object?> args);

/// <summary>
/// Renders template values the way Go does: <c>fmt.Print</c> forms for plain output and
/// encoding/json forms for the <c>json</c> function. Values are JsonElement (from the daemon),
/// strings, numbers, booleans, rows, lists or null.
/// </summary>
public static class GoJson
{
    public static string Print(object? v) => v switch
    {
        null => "<no value>",
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e"),
        JsonElement e => PrintElement(e),
        IDictionary dict => "map[" + string.Join(" ", SortedKeys(dict).Select(k => k + ":" + Print(dict[k]))) + "]",
        IEnumerable list => "[" + string.Join(" ", list.Cast<object?>().Select(Print)) + "]",
        _ => v.ToString() ?? "",
    };

    static IEnumerable<string> SortedKeys(IDictionary dict) => dict.Keys.Cast<string>().OrderBy(k => k, StringComparer.Ordinal);

    static string PrintElement(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!,
        JsonValueKind.Number => e.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null or JsonValueKind.Undefined => "<nil>",
        JsonValueKind.Array => "[" + string.Join(" ", e.EnumerateArray().Select(PrintElement)) + "]",
        _ => "map[" + string.Join(" ", e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Name + ":" + PrintElement(p.Value))) + "]",
    };

    public static string Serialize(object? v, bool escapeHtml)
    {
        var sb = new StringBuilder();
        Write(sb, v, escapeHtml);
        return sb.ToString();
    }

    static void Write(StringBuilder sb, object? v, bool html)
    {
        switch (v)
        {
            case null: sb.Append("null"); break;
            case string s: WriteString(sb, s, html); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long or int: sb.Append(Convert.ToString(v, CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(d.ToString("R", CultureInfo.InvariantCulture)); break;
            case JsonElement e: WriteElement(sb, e, html); break;
            case IDictionary dict:
                sb.Append('{');
                bool first = true;
                foreach (var k in SortedKeys(dict))
                {
                    if (dict[k] is RowMethod) continue;
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, k, html);
                    sb.Append(':');
                    Write(sb, dict[k], html);
                }
                sb.Append('}');
                break;
            case IEnumerable list:
                sb.Append('[');
                bool firstItem = true;
                foreach (var item in list)
                {
                    if (!firstItem) sb.Append(',');
                    firstItem = false;
                    Write(sb, item, html);
                }
                sb.Append(']');
                break;
            default: WriteString(sb, v.ToString() ?? "", html); break;
        }
    }

    static void WriteElement(StringBuilder sb, JsonElement e, bool html)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                sb.Append('{');
                bool first = true;
                foreach (var p in e.EnumerateObject())
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, p.Name, html);
                    sb.Append(':');
                    WriteElement(sb, p.Value, html);
                }
                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                bool firstItem = true;
                foreach (var item in e.EnumerateArray())
                {
                    if (!firstItem) sb.Append(',');
                    firstItem = false;
                    WriteElement(sb, item, html);
                }
                sb.Append(']');
                break;
            case JsonValueKind.String: WriteString(sb, e.GetString()!, html); break;
            default: sb.Append(e.GetRawText()); break;
        }
    }

    /// <summary>Go's encoding/json string escaping, HTML-safe when asked (as json.Marshal is by default).</summary>
    public static void WriteString(StringBuilder sb, string s, bool html)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '<' or '>' or '&' when html: sb.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture)); break;
                case '\u2028' or '\u2029': sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                case < ' ': sb.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture)); break;
                default: sb.Append(c); break;
            }
        }
        sb.Append('"');
    }
}
