using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Berth.Cli.Templates;

/// <summary>The functions a template may call: docker's additions and Go's builtins.</summary>
internal static class Functions
{
    public static object? Call(string name, List<object?> a)
    {
        switch (name)
        {
            case "json":
                Need(name, a, 1);
                // A formatter row is marshalled by docker with HTML escaping; the json helper itself doesn't escape.
                return GoJson.Serialize(a[0], escapeHtml: a[0] is Row);
            case "join":
                Need(name, a, 2);
                return string.Join(Str(a[1]), Items(a[0]).Select(GoJson.Print));
            case "split":
                Need(name, a, 2);
                return Str(a[0]).Split(Str(a[1])).Cast<object?>().ToList();
            case "upper": Need(name, a, 1); return Str(a[0]).ToUpperInvariant();
            case "lower": Need(name, a, 1); return Str(a[0]).ToLowerInvariant();
            case "title":
                Need(name, a, 1);
                return string.Join(' ', Str(a[0]).Split(' ').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..]));
            case "pad":
                Need(name, a, 3);
                return new string(' ', (int)Int(a[1])) + Str(a[0]) + new string(' ', (int)Int(a[2]));
            case "truncate":
            {
                Need(name, a, 2);
                var s = Str(a[0]);
                int n = (int)Int(a[1]);
                return s.Length > n ? s[..n] : s;
            }
            case "println": return string.Join(' ', a.Select(GoJson.Print)) + "\n";
            case "print": return string.Concat(a.Select(GoJson.Print));
            case "printf":
                if (a.Count == 0) throw new TemplateException("wrong number of args for printf: want at least 1 got 0");
                return Printf(Str(a[0]), a.Skip(1).ToList());
            case "len":
                Need(name, a, 1);
                return a[0] switch
                {
                    string s => (long)s.Length,
                    JsonElement { ValueKind: JsonValueKind.String } e => (long)e.GetString()!.Length,
                    JsonElement { ValueKind: JsonValueKind.Array } e => (long)e.GetArrayLength(),
                    JsonElement { ValueKind: JsonValueKind.Object } e => (long)e.EnumerateObject().Count(),
                    ICollection c => (long)c.Count,
                    var v => throw new TemplateException($"error calling len: len of type {Template.TypeName(v)}"),
                };
            case "index":
            {
                if (a.Count < 1) throw new TemplateException("wrong number of args for index: want at least 1 got 0");
                var v = a[0];
                foreach (var key in a.Skip(1)) v = Index(v, key);
                return v;
            }
            case "not": Need(name, a, 1); return !Template.IsTrue(a[0]);
            case "and":
                foreach (var v in a) if (!Template.IsTrue(v)) return v;
                return a.Count > 0 ? a[^1] : null;
            case "or":
                foreach (var v in a) if (Template.IsTrue(v)) return v;
                return a.Count > 0 ? a[^1] : null;
            case "eq":
                if (a.Count < 2) throw new TemplateException("missing argument for comparison");
                return a.Skip(1).Any(b => Compare(a[0], b) == 0);
            case "ne": Need(name, a, 2); return Compare(a[0], a[1]) != 0;
            case "lt": Need(name, a, 2); return Compare(a[0], a[1]) < 0;
            case "le": Need(name, a, 2); return Compare(a[0], a[1]) <= 0;
            case "gt": Need(name, a, 2); return Compare(a[0], a[1]) > 0;
            case "ge": Need(name, a, 2); return Compare(a[0], a[1]) >= 0;
            default:
                throw new TemplateException($"function \"{name}\" not defined");
        }
    }

    static void Need(string name, List<object?> a, int n)
    {
        if (a.Count != n) throw new TemplateException($"wrong number of args for {name}: want {n} got {a.Count}");
    }

    static string Str(object? v) => v is JsonElement { ValueKind: JsonValueKind.String } e ? e.GetString()! : GoJson.Print(v);

    static long Int(object? v) => v switch
    {
        long l => l,
        int i => i,
        double d => (long)d,
        JsonElement { ValueKind: JsonValueKind.Number } e => (long)e.GetDouble(),
        _ => throw new TemplateException($"expected an integer, got {GoJson.Print(v)}"),
    };

    static IEnumerable<object?> Items(object? v) => v switch
    {
        null => Array.Empty<object?>(),
        JsonElement { ValueKind: JsonValueKind.Array } e => e.EnumerateArray().Cast<object?>(),
        JsonElement { ValueKind: JsonValueKind.Null } => Array.Empty<object?>(),
        string s => new object?[] { s },
        IEnumerable list => list.Cast<object?>(),
        _ => throw new TemplateException($"error calling join: expected a list, got {GoJson.Print(v)}"),
    };

    static object? Index(object? v, object? key)
    {
        switch (v)
        {
            case JsonElement { ValueKind: JsonValueKind.Array } e:
            {
                long i = Int(key);
                if (i < 0 || i >= e.GetArrayLength()) throw new TemplateException($"error calling index: index out of range: {i}");
                return e[(int)i];
            }
            case JsonElement { ValueKind: JsonValueKind.Object } e:
                return e.TryGetProperty(Str(key), out var p) ? p : null;
            case IDictionary d:
                return d.Contains(Str(key)) ? d[Str(key)] : null;
            case IList list:
            {
                long i = Int(key);
                if (i < 0 || i >= list.Count) throw new TemplateException($"error calling index: index out of range: {i}");
                return list[(int)i];
            }
            default:
                throw new TemplateException($"error calling index: can't index item of type {Template.TypeName(v)}");
        }
    }

    static int Compare(object? a, object? b)
    {
        if (Number(a) is { } x && Number(b) is { } y) return x.CompareTo(y);
        if (a is bool ba && b is bool bb) return ba.CompareTo(bb);
        if (a is JsonElement { ValueKind: JsonValueKind.True or JsonValueKind.False } ja) return Compare(ja.GetBoolean(), b);
        if (b is JsonElement { ValueKind: JsonValueKind.True or JsonValueKind.False } jb) return Compare(a, jb.GetBoolean());
        return string.CompareOrdinal(Str(a), Str(b));
    }

    static double? Number(object? v) => v switch
    {
        long l => l,
        int i => i,
        double d => d,
        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
        _ => null,
    };

    /// <summary>Go's fmt verbs used in templates: %s %v %d %q %t %x %%, with an optional width.</summary>
    static string Printf(string format, List<object?> args)
    {
        var sb = new StringBuilder();
        int argi = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%' || i + 1 >= format.Length) { sb.Append(c); continue; }
            int j = i + 1;
            bool left = false;
            if (format[j] == '-') { left = true; j++; }
            int widthStart = j;
            while (j < format.Length && char.IsDigit(format[j])) j++;
            int width = j > widthStart ? int.Parse(format[widthStart..j], CultureInfo.InvariantCulture) : 0;
            if (j >= format.Length) { sb.Append(format[i..]); break; }
            char verb = format[j];
            i = j;
            if (verb == '%') { sb.Append('%'); continue; }
            if (argi >= args.Count) { sb.Append("%!").Append(verb).Append("(MISSING)"); continue; }
            var arg = args[argi++];
            string s = verb switch
            {
                'q' => GoJson.Serialize(Str(arg), escapeHtml: false),
                'x' => Number(arg) is { } n ? ((long)n).ToString("x", CultureInfo.InvariantCulture) : Convert.ToHexString(Encoding.UTF8.GetBytes(Str(arg))).ToLowerInvariant(),
                _ => Str(arg),
            };
            sb.Append(left ? s.PadRight(width) : s.PadLeft(width));
        }
        for (; argi < args.Count; argi++) sb.Append("%!(EXTRA ").Append(Template.TypeName(args[argi])).Append('=').Append(Str(args[argi])).Append(')');
        return sb.ToString();
    }
}
