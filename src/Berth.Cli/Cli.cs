using System.Text;
using System.Text.Json;
using Berth.Api;
using Berth.Cli.Formatting;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli;

/// <summary>A failure already reported to the user; the CLI exits with <see cref="Code"/>.</summary>
public sealed class ExitException(int code) : Exception
{
    public int Code { get; } = code;
}

/// <summary>
/// What every command works with: the daemon client and the process's output. Output goes
/// through writers with "\n" newlines and explicit flushing, so bytes match docker's exactly.
/// </summary>
public sealed class Cli
{
    public const string ProgramName = "berth";

    public Cli(DaemonClient client, Stream stdout, Stream stderr)
    {
        Client = client;
        StdoutStream = stdout;
        StderrStream = stderr;
        var utf8 = new UTF8Encoding(false);
        Out = new StreamWriter(stdout, utf8, 4096, leaveOpen: true) { NewLine = "\n" };
        Err = new StreamWriter(stderr, utf8, 1024, leaveOpen: true) { NewLine = "\n", AutoFlush = true };
    }

    public DaemonClient Client { get; }
    public Stream StdoutStream { get; }
    public Stream StderrStream { get; }
    public StreamWriter Out { get; }
    public StreamWriter Err { get; }
    public bool StdoutIsTerminal => Terminal.Tty.IsTerminal(Terminal.Tty.Stdout);

    public static string Escape(string s) => Uri.EscapeDataString(s);

    /// <summary>
    /// Runs <paramref name="action"/> for each name like docker's multi-name commands: successes
    /// print the name, failures print the daemon's error, and any failure makes the status 1.
    /// </summary>
    public async Task<int> ForEachAsync(IEnumerable<string> names, Func<string, Task> action, bool printName = true)
    {
        int status = 0;
        foreach (var name in names)
        {
            try
            {
                await action(name);
                if (printName) Out.WriteLine(name);
            }
            catch (DaemonException e)
            {
                await Out.FlushAsync();
                Err.WriteLine("Error response from daemon: " + e.Message);
                status = 1;
            }
        }
        return status;
    }

    /// <summary>
    /// Docker's formatter: <c>table</c> formats get a header row (the template run on the header
    /// names) and tabwriter alignment; others print one template result per row.
    /// </summary>
    public void WriteFormatted(string format, IEnumerable<Row> rows, Row headers)
    {
        bool table = format.StartsWith("table", StringComparison.Ordinal);
        var body = (table ? format["table".Length..] : format).Trim(' ').Replace("\\t", "\t").Replace("\\n", "\n");
        var template = Template.Parse(body);
        var sb = new StringBuilder();
        if (table) sb.Append(template.Execute(headers)).Append('\n');
        foreach (var row in rows) sb.Append(template.Execute(row)).Append('\n');
        Out.Write(table ? TabWriter.Format(sb.ToString()) : sb.ToString());
    }

    /// <summary>
    /// Prints a JSON progress stream (pull, push, import) as docker does; throws on an in-stream error. On a
    /// terminal each layer keeps one line, redrawn in place with its bar (cursor up, clear line, cursor
    /// down); elsewhere lines that carry a computable bar are skipped and the rest print in order.
    /// </summary>
    public async Task RenderProgressAsync(Stream body, TextWriter output, bool terminal = false)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var msg in JsonSerializer.DeserializeAsyncEnumerable(body, ApiJson.Default.JsonMessage, topLevelValues: true))
        {
            if (msg is null) continue;
            if (msg.ErrorDetail is not null || msg.Error is not null)
            {
                await output.FlushAsync();
                throw new DaemonException(200, msg.ErrorDetail?.Message ?? msg.Error!);
            }
            if (msg.Stream is not null) { output.Write(msg.Stream); continue; }
            if (msg.Status is null) continue;
            if (terminal)
            {
                DrawTerminalLine(msg, lines, output);
                await output.FlushAsync();
                continue;
            }
            if (msg.ProgressDetail is { Total: > 0 }) continue;
            if (msg.Id is not null) output.Write(msg.Id + ": ");
            output.Write(msg.Status);
            if (msg.Progress is not null && msg.ProgressDetail is null) output.Write(" " + msg.Progress);
            output.Write('\n');
        }
        await output.FlushAsync();
    }

    static void DrawTerminalLine(JsonMessage msg, Dictionary<string, int> lines, TextWriter output)
    {
        int up = 0;
        bool layer = msg.Id is not null && msg.ProgressDetail is not null;
        if (layer)
        {
            if (!lines.TryGetValue(msg.Id!, out var line))
            {
                line = lines.Count;
                lines[msg.Id!] = line;
                output.Write('\n');
            }
            up = lines.Count - line;
            output.Write($"\u001b[{up}A");
        }
        else lines.Clear(); // a plain line ends the block of layer lines, as docker's renderer does
        output.Write("\u001b[2K\r");
        if (msg.Id is not null) output.Write(msg.Id + ": ");
        output.Write(msg.Status);
        if (msg.ProgressDetail is { Total: > 0 } d) output.Write(" " + ProgressBar.Render(d.Current, d.Total));
        output.Write(layer ? "\r" : "\n");
        if (layer) output.Write($"\u001b[{up}B");
    }

    /// <summary>Re-indents raw JSON like Go's json.Indent with four spaces, keeping every token's original text.</summary>
    public static string IndentJson(ReadOnlySpan<byte> json)
    {
        var sb = new StringBuilder(json.Length * 2);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        int depth = 0;
        bool needComma = false, afterProperty = false, justOpened = false;
        while (reader.Read())
        {
            var t = reader.TokenType;
            if (t is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                depth--;
                if (!justOpened) sb.Append('\n').Append(' ', depth * 4);
                sb.Append(t == JsonTokenType.EndObject ? '}' : ']');
                needComma = true;
                justOpened = false;
                continue;
            }
            if (!afterProperty)
            {
                if (needComma) sb.Append(',');
                if (depth > 0) sb.Append('\n').Append(' ', depth * 4);
            }
            afterProperty = false;
            justOpened = false;
            switch (t)
            {
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    sb.Append(t == JsonTokenType.StartObject ? '{' : '[');
                    depth++;
                    needComma = false;
                    justOpened = true;
                    continue;
                case JsonTokenType.PropertyName:
                    sb.Append('"').Append(Encoding.UTF8.GetString(reader.ValueSpan)).Append("\": ");
                    afterProperty = true;
                    needComma = false;
                    continue;
                case JsonTokenType.String:
                    sb.Append('"').Append(Encoding.UTF8.GetString(reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan)).Append('"');
                    break;
                default:
                    sb.Append(Encoding.UTF8.GetString(reader.ValueSpan));
                    break;
            }
            needComma = true;
        }
        return sb.ToString();
    }
}
