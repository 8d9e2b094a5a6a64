using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Shim.Client;

/// <summary>
/// How a container ended. The shim answers <c>wait</c> with it and also leaves it in
/// <c>&lt;state-dir&gt;/exit.json</c>, which is how a daemon that was down at the time learns the result.
/// </summary>
public sealed class ExitInfo
{
    public const string FileName = "exit.json";

    public int ExitCode { get; set; }
    [JsonConverter(typeof(Rfc3339NanoConverter))]
    public DateTime FinishedAt { get; set; }
    public bool OomKilled { get; set; }

    /// <summary>Reads <c>exit.json</c> from a shim state dir; null when the container has not exited (or the file is unreadable).</summary>
    public static ExitInfo? TryRead(string stateDir)
    {
        try
        {
            var bytes = File.ReadAllBytes(Path.Combine(stateDir, FileName));
            return JsonSerializer.Deserialize(bytes, ShimJsonContext.Default.ExitInfo);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes <c>exit.json</c> so a reader sees either no file or the whole record, even across a crash:
    /// temp file, then rename.
    /// </summary>
    public void WriteAtomically(string stateDir)
    {
        var final = Path.Combine(stateDir, FileName);
        var temp = final + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            // No fsync: the exec root is runtime state (tmpfs under /run) that a power cut wipes anyway;
            // the rename alone keeps readers from seeing half a file after a process crash.
            JsonSerializer.Serialize(file, this, ShimJsonContext.Default.ExitInfo);
        }
        File.Move(temp, final, overwrite: true);
    }
}
