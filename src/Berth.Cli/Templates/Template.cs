using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Berth.Cli.Templates;

/// <summary>A template that failed to parse or to run; docker reports these as "template parsing error".</summary>
public sealed class TemplateException(string message) : Exception(message);

/// <summary>
/// The subset of Go's text/template that docker's <c>--format</c> users write: fields and nested
/// fields, variables, pipelines, parenthesised calls, <c>if/else if/else/end</c>, <c>range</c>
/// (with optional <c>$i, $v :=</c>), <c>with</c>, trim markers, and docker's functions
/// (<c>json join split upper lower title pad truncate println</c>) plus Go's builtins
/// (<c>index len printf print and or not eq ne lt le gt ge</c>).
/// </summary>
public sealed class Template
{
    abstract record Node;
    sealed record TextNode(string Text) : Node;
    sealed record ActionNode(Pipeline Pipe) : Node;
    sealed record IfNode(Pipeline Pipe, List<Node> Then, List<Node>? Else, bool IsWith) : Node;
    sealed record RangeNode(Pipeline Pipe, List<Node> Body, List<Node>? Else) : Node;

    sealed record Pipeline(List<string> Decl, List<List<Operand>> Commands);

    abstract record Operand;
    sealed record FieldOp(Operand? Receiver, string[] Path) : Operand; // Receiver null = dot
    sealed record VarOp(string Name, string[] Path) : Operand;
    sealed record LiteralOp(object? Value) : Operand;
    sealed record IdentOp(string Name) : Operand;
    sealed record SubPipeOp(Pipeline Pipe, string[] Path) : Operand;

    readonly List<Node> _root;

    Template(List<Node> root) => _root = root;

    public static Template Parse(string text)
    {
        var parser = new Parser(text);
        var nodes = parser.ParseList(out var end);
        if (end is not null) throw new TemplateException($"unexpected {{{{{end}}}}}");
        return new Template(nodes);
    }

    public string Execute(object? data)
    {
        var sb = new StringBuilder();
        var vars = new List<(string, object?)> { ("$", data) };
        Run(_root, data, vars, sb);
        return sb.ToString();
    }

    // ---------------------------------------------------------------- parsing

    sealed class Parser(string src)
    {
        int _pos;
        bool _trimNextText;

        /// <summary>Parses nodes until {{end}}/{{else…}} (returned in <paramref name="terminator"/>) or the end of input.</summary>
        public List<Node> ParseList(out string? terminator)
        {
            var nodes = new List<Node>();
            terminator = null;
            while (_pos < src.Length)
            {
                int open = src.IndexOf("{{", _pos, StringComparison.Ordinal);
                string text = open < 0 ? src[_pos..] : src[_pos..open];
                bool trimLeft = open >= 0 && open + 2 < src.Length && src[open + 2] == '-' && open + 3 < src.Length && char.IsWhiteSpace(src[open + 3]);
                if (_trimNextText) text = text.TrimStart();
                if (trimLeft) text = text.TrimEnd();
                _trimNextText = false;
                if (text.Length > 0) nodes.Add(new TextNode(text));
                if (open < 0) { _pos = src.Length; break; }
                int start = open + (trimLeft ? 3 : 2);
                int close = FindClose(start);
                bool trimRight = close >= 1 && src[close - 1] == '-' && close >= 2 && char.IsWhiteSpace(src[close - 2]);
                var body = src[start..(trimRight ? close - 1 : close)].Trim();
                _pos = close + 2;
                _trimNextText = trimRight;
                if (body.StartsWith("/*", StringComparison.Ordinal)) continue;
                var tokens = Lex(body);
                if (tokens.Count == 0) throw new TemplateException("missing value for command");
                switch (tokens[0])
                {
                    case "end":
                        terminator = "end";
                        return nodes;
                    case "else":
                        terminator = tokens.Count > 1 ? "else " + body[4..].Trim() : "else";
                        return nodes;
                    case "if":
                    case "with":
                        nodes.Add(ParseIf(tokens.Skip(1).ToList(), tokens[0] == "with"));
                        break;
                    case "range":
                    {
                        var pipe = ParsePipeline(tokens.Skip(1).ToList());
                        var bodyNodes = ParseList(out var t);
                        List<Node>? elseNodes = null;
                        if (t == "else") elseNodes = ParseList(out t);
                        if (t != "end") throw new TemplateException("unexpected EOF in range");
                        nodes.Add(new RangeNode(pipe, bodyNodes, elseNodes));
                        break;
                    }
                    default:
                        nodes.Add(new ActionNode(ParsePipeline(tokens)));
                        break;
                }
            }
            return nodes;
        }

        Node ParseIf(List<string> condTokens, bool isWith)
        {
            var pipe = ParsePipeline(condTokens);
            var then = ParseList(out var t);
            List<Node>? elseNodes = null;
            if (t is not null && t.StartsWith("else ", StringComparison.Ordinal))
            {
                var rest = Lex(t[5..]);
                if (rest.Count == 0 || (rest[0] != "if" && rest[0] != "with")) throw new TemplateException($"unexpected {t}");
                // "else if" nests a new if that consumes the shared {{end}}.
                elseNodes = new List<Node> { ParseIf(rest.Skip(1).ToList(), rest[0] == "with") };
                t = "end";
            }
            else if (t == "else")
                elseNodes = ParseList(out t);
            if (t != "end") throw new TemplateException($"unexpected EOF in {(isWith ? "with" : "if")}");
            return new IfNode(pipe, then, elseNodes, isWith);
        }

        int FindClose(int from)
        {
            bool inString = false, inRaw = false;
            for (int i = from; i < src.Length - 1; i++)
            {
                char c = src[i];
                if (inString) { if (c == '\\') i++; else if (c == '"') inString = false; continue; }
                if (inRaw) { if (c == '`') inRaw = false; continue; }
                if (c == '"') inString = true;
                else if (c == '`') inRaw = true;
                else if (c == '}' && src[i + 1] == '}') return i;
            }
            throw new TemplateException("unclosed action");
        }
    }

    static List<string> Lex(string s)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c is '|' or '(' or ')' or ',') { tokens.Add(c.ToString()); i++; continue; }
            if (c == ':' && i + 1 < s.Length && s[i + 1] == '=') { tokens.Add(":="); i += 2; continue; }
            if (c == '=' ) { tokens.Add("="); i++; continue; }
            int start = i;
            if (c == '"')
            {
                for (i++; i < s.Length && s[i] != '"'; i++) if (s[i] == '\\') i++;
                if (i >= s.Length) throw new TemplateException("unterminated quoted string");
                tokens.Add(s[start..++i]);
                continue;
            }
            if (c == '`')
            {
                int end = s.IndexOf('`', i + 1);
                if (end < 0) throw new TemplateException("unterminated raw quoted string");
                tokens.Add(s[start..(end + 1)]);
                i = end + 1;
                continue;
            }
            while (i < s.Length && !char.IsWhiteSpace(s[i]) && s[i] is not ('|' or '(' or ',') && !(s[i] == ')' ) && !(s[i] == ':' && i + 1 < s.Length && s[i + 1] == '='))
                i++;
            tokens.Add(s[start..i]);
        }
        return tokens;
    }

    static Pipeline ParsePipeline(List<string> tokens)
    {
        var decl = new List<string>();
        int declEnd = tokens.IndexOf(":=");
        if (declEnd < 0) declEnd = tokens.IndexOf("=");
        if (declEnd > 0 && tokens[0].StartsWith('$'))
        {
            decl.AddRange(tokens.Take(declEnd).Where(t => t != ","));
            tokens = tokens.Skip(declEnd + 1).ToList();
        }
        var commands = new List<List<Operand>>();
        var current = new List<Operand>();
        for (int i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (t == "|")
            {
                if (current.Count == 0) throw new TemplateException("missing command before |");
                commands.Add(current);
                current = new List<Operand>();
                continue;
            }
            if (t == "(")
            {
                int depth = 1, j = i + 1;
                for (; j < tokens.Count && depth > 0; j++)
                {
                    if (tokens[j] == "(") depth++;
                    else if (tokens[j] == ")") depth--;
                }
                if (depth != 0) throw new TemplateException("unclosed left paren");
                var inner = ParsePipeline(tokens.GetRange(i + 1, j - i - 2));
                string[] path = Array.Empty<string>();
                if (j < tokens.Count && tokens[j].StartsWith('.') && tokens[j].Length > 1)
                    path = tokens[j++][1..].Split('.');
                current.Add(new SubPipeOp(inner, path));
                i = j - 1;
                continue;
            }
            current.Add(ParseOperand(t));
        }
        if (current.Count == 0) throw new TemplateException("missing value for command");
        commands.Add(current);
        return new Pipeline(decl, commands);
    }

    static Operand ParseOperand(string t)
    {
        if (t == ".") return new FieldOp(null, Array.Empty<string>());
        if (t[0] == '.') return new FieldOp(null, t[1..].Split('.'));
        if (t[0] == '$')
        {
            var parts = t.Split('.');
            return new VarOp(parts[0], parts.Skip(1).ToArray());
        }
        if (t[0] == '"') return new LiteralOp(Unquote(t));
        if (t[0] == '`') return new LiteralOp(t[1..^1]);
        if (t is "true" or "false") return new LiteralOp(t == "true");
        if (t == "nil") return new LiteralOp(null);
        if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return new LiteralOp(l);
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return new LiteralOp(d);
        if (char.IsLetter(t[0]) || t[0] == '_') return new IdentOp(t);
        throw new TemplateException($"unexpected \"{t}\" in command");
    }

    static string Unquote(string t)
    {
        var sb = new StringBuilder();
        for (int i = 1; i < t.Length - 1; i++)
        {
            char c = t[i];
            if (c != '\\') { sb.Append(c); continue; }
            c = t[++i];
            sb.Append(c switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', _ => c });
        }
        return sb.ToString();
    }

    // ---------------------------------------------------------------- evaluation

    void Run(List<Node> nodes, object? dot, List<(string Name, object? Value)> vars, StringBuilder sb)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode t:
                    sb.Append(t.Text);
                    break;
                case ActionNode a:
                {
                    var v = Eval(a.Pipe, dot, vars);
                    if (a.Pipe.Decl.Count == 0) sb.Append(GoJson.Print(v));
                    break;
                }
                case IfNode f:
                {
                    int mark = vars.Count;
                    var v = Eval(f.Pipe, dot, vars);
                    if (IsTrue(v)) Run(f.Then, f.IsWith ? v : dot, vars, sb);
                    else if (f.Else is not null) Run(f.Else, dot, vars, sb);
                    vars.RemoveRange(mark, vars.Count - mark);
                    break;
                }
                case RangeNode r:
                    RunRange(r, dot, vars, sb);
                    break;
            }
        }
    }

    void RunRange(RangeNode r, object? dot, List<(string Name, object? Value)> vars, StringBuilder sb)
    {
        int mark = vars.Count;
        var decl = r.Pipe.Decl;
        var v = Eval(r.Pipe with { Decl = new List<string>() }, dot, vars);
        var items = new List<(object? Key, object? Value)>();
        switch (v)
        {
            case JsonElement { ValueKind: JsonValueKind.Array } a:
                int idx = 0;
                foreach (var e in a.EnumerateArray()) items.Add((idx++, e));
                break;
            case JsonElement { ValueKind: JsonValueKind.Object } o:
                foreach (var p in o.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal)) items.Add((p.Name, p.Value));
                break;
            case JsonElement { ValueKind: JsonValueKind.Null }:
            case null:
                break;
            case IDictionary dict:
                foreach (var k in dict.Keys.Cast<string>().OrderBy(k => k, StringComparer.Ordinal)) items.Add((k, dict[k]));
                break;
            case IEnumerable list when v is not string:
                int i = 0;
                foreach (var e in list) items.Add((i++, e));
                break;
            case long n:
                for (long k = 0; k < n; k++) items.Add((k, k));
                break;
            default:
                throw new TemplateException($"range can't iterate over {GoJson.Print(v)}");
        }
        if (items.Count == 0)
        {
            if (r.Else is not null) Run(r.Else, dot, vars, sb);
            return;
        }
        foreach (var (key, value) in items)
        {
            if (decl.Count == 1) vars.Add((decl[0], value));
            else if (decl.Count >= 2) { vars.Add((decl[0], key is int ki ? (long)ki : key)); vars.Add((decl[1], value)); }
            Run(r.Body, value, vars, sb);
            vars.RemoveRange(mark, vars.Count - mark);
        }
    }

    object? Eval(Pipeline pipe, object? dot, List<(string Name, object? Value)> vars)
    {
        object? value = null;
        bool first = true;
        foreach (var cmd in pipe.Commands)
        {
            value = EvalCommand(cmd, dot, vars, first ? null : new[] { value });
            first = false;
        }
        if (pipe.Decl.Count > 0) vars.Add((pipe.Decl[0], value));
        return value;
    }

    object? EvalCommand(List<Operand> cmd, object? dot, List<(string Name, object? Value)> vars, object?[]? piped)
    {
        var head = cmd[0];
        if (head is IdentOp fn)
        {
            var args = cmd.Skip(1).Select(o => EvalOperand(o, dot, vars)).ToList();
            if (piped is not null) args.AddRange(piped);
            return Functions.Call(fn.Name, args);
        }
        if (cmd.Count > 1 || piped is not null)
        {
            // A field followed by arguments is a method call, e.g. {{.Label "com.example"}}.
            if (head is FieldOp { Path.Length: > 0 } f && Field(Resolve(f.Receiver, dot, vars, f.Path[..^1]), f.Path[^1]) is RowMethod m)
            {
                var args = cmd.Skip(1).Select(o => EvalOperand(o, dot, vars)).ToList();
                if (piped is not null) args.AddRange(piped);
                return m(args);
            }
            throw new TemplateException($"can't give argument to non-function {Describe(head)}");
        }
        return EvalOperand(head, dot, vars);
    }

    static string Describe(Operand o) => o switch
    {
        FieldOp f => "." + string.Join('.', f.Path),
        VarOp v => v.Name,
        _ => o.ToString() ?? "",
    };

    object? EvalOperand(Operand o, object? dot, List<(string Name, object? Value)> vars) => o switch
    {
        FieldOp f => Resolve(f.Receiver, dot, vars, f.Path),
        VarOp v => Path(LookupVar(v.Name, vars), v.Path),
        LiteralOp l => l.Value,
        SubPipeOp s => Path(Eval(s.Pipe, dot, vars), s.Path),
        IdentOp i => Functions.Call(i.Name, new List<object?>()),
        _ => null,
    };

    object? Resolve(Operand? receiver, object? dot, List<(string Name, object? Value)> vars, string[] path) =>
        Path(receiver is null ? dot : EvalOperand(receiver, dot, vars), path);

    static object? LookupVar(string name, List<(string Name, object? Value)> vars)
    {
        for (int i = vars.Count - 1; i >= 0; i--)
            if (vars[i].Name == name) return vars[i].Value;
        throw new TemplateException($"undefined variable: {name}");
    }

    static object? Path(object? v, string[] path)
    {
        foreach (var p in path)
        {
            v = Field(v, p);
            if (v is RowMethod m) v = m(Array.Empty<object?>());
        }
        return v;
    }

    static object? Field(object? v, string name) => v switch
    {
        JsonElement { ValueKind: JsonValueKind.Object } e => e.TryGetProperty(name, out var p) ? p : null,
        IDictionary d => d.Contains(name) ? d[name] : null,
        null => throw new TemplateException($"nil pointer evaluating .{name}"),
        _ => throw new TemplateException($"can't evaluate field {name} in type {TypeName(v)}"),
    };

    internal static string TypeName(object? v) => v switch
    {
        string => "string",
        long or int => "int",
        bool => "bool",
        JsonElement { ValueKind: JsonValueKind.Array } => "[]interface {}",
        JsonElement { ValueKind: JsonValueKind.String } => "string",
        JsonElement { ValueKind: JsonValueKind.Number } => "float64",
        _ => "interface {}",
    };

    public static bool IsTrue(object? v) => v switch
    {
        null => false,
        bool b => b,
        string s => s.Length > 0,
        long l => l != 0,
        int i => i != 0,
        double d => d != 0,
        JsonElement e => e.ValueKind switch
        {
            JsonValueKind.False or JsonValueKind.Null or JsonValueKind.Undefined => false,
            JsonValueKind.String => e.GetString()!.Length > 0,
            JsonValueKind.Number => e.GetDouble() != 0,
            JsonValueKind.Array => e.GetArrayLength() > 0,
            JsonValueKind.Object => e.EnumerateObject().Any(),
            _ => true,
        },
        ICollection c => c.Count > 0,
        _ => true,
    };
}
