using System.Text;
using System.Text.Json;

namespace Berth.Runc;

/// <summary>
/// runc's global --log/--log-format/--debug. Callers such as containerd's shim point --log at a
/// file with --log-format json and, when a command fails, report the last "error" line they find
/// there, so every failure is written there as well as to stderr.
/// </summary>
static class Log
{
    static string? path;
    static bool json, debug;

    public static void Configure(string? logPath, string format, bool debugOn)
    {
        if (format is not ("text" or "json")) throw new UsageException($"invalid log-format: {format}");
        path = logPath;
        json = format == "json";
        debug = debugOn;
    }

    public static void Debug(string message)
    {
        if (debug) Write("debug", message);
    }

    public static void Error(string message)
    {
        Console.Error.WriteLine(message);
        if (path is not null) Write("error", message);
    }

    public static void Warning(string message) => Write("warning", message);

    static void Write(string level, string message)
    {
        var now = DateTime.UtcNow;
        string line;
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                w.WriteStartObject();
                w.WriteString("level", level);
                w.WriteString("msg", message);
                w.WriteString("time", now.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ"));
                w.WriteEndObject();
            }
            line = Encoding.UTF8.GetString(buffer.ToArray());
        }
        else line = $"time=\"{now:yyyy-MM-ddTHH:mm:ssZ}\" level={level} msg=\"{message.Replace("\"", "\\\"")}\"";
        if (path is null) { Console.Error.WriteLine(line); return; }
        try { File.AppendAllText(path, line + "\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Console.Error.WriteLine(line); }
    }
}
