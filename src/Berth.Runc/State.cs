using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Runc;

/// <summary>What berth-runc remembers about a container between invocations: &lt;root&gt;/&lt;id&gt;/state.json.</summary>
public sealed class ContainerState
{
    public string OciVersion { get; set; } = "1.2.0";
    public required string Id { get; set; }
    public int Pid { get; set; }
    public string Status { get; set; } = "created";
    public required string Bundle { get; set; }
    public string? Rootfs { get; set; }
    public DateTimeOffset Created { get; set; }
    public string? CgroupsPath { get; set; }
    /// <summary>The pid's start time from /proc/&lt;pid&gt;/stat, so a recycled pid is not mistaken for the container.</summary>
    public ulong StartTime { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerState))]
[JsonSerializable(typeof(List<ContainerState>))]
internal sealed partial class StateJson : JsonSerializerContext;

/// <summary>The state directory (--root) and the live status of the containers in it.</summary>
sealed class StateStore(string root)
{
    public string Dir(string id) => Path.Combine(root, id);

    public void Save(ContainerState state)
    {
        Directory.CreateDirectory(Dir(state.Id));
        var path = Path.Combine(Dir(state.Id), "state.json");
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(state, StateJson.Default.ContainerState));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public ContainerState? Load(string id)
    {
        var path = Path.Combine(Dir(id), "state.json");
        if (!File.Exists(path)) return null;
        var state = JsonSerializer.Deserialize(File.ReadAllText(path), StateJson.Default.ContainerState)!;
        state.Status = IsAlive(state) ? state.Status : "stopped";
        return state;
    }

    public IEnumerable<ContainerState> All() =>
        Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Select(d => Load(Path.GetFileName(d))).OfType<ContainerState>()
            : [];

    public void Remove(string id)
    {
        if (Directory.Exists(Dir(id))) Directory.Delete(Dir(id), recursive: true);
    }

    static bool IsAlive(ContainerState s) => s.Pid > 0 && StartTimeOf(s.Pid) is { } t && t == s.StartTime;

    /// <summary>Field 22 of /proc/&lt;pid&gt;/stat, or null when the process is gone or a zombie.</summary>
    public static ulong? StartTimeOf(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        // The command name may contain spaces and parentheses; fields resume after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields[0] == "Z" ? null : ulong.Parse(fields[19]);
    }
}
