using Berth.Runtime.Json;
using Berth.Runtime.Oci;

namespace Berth.Runc;

/// <summary>What berth-runc remembers about a container between invocations: &lt;root&gt;/&lt;id&gt;/state.json.</summary>
public sealed class ContainerState
{
    public required string Id { get; set; }
    public int Pid { get; set; }
    /// <summary>created, running or paused as last recorded; <see cref="StateStore.Load"/> turns a dead one into stopped.</summary>
    public string Status { get; set; } = "created";
    public required string Bundle { get; set; }
    public required string Rootfs { get; set; }
    public DateTime Created { get; set; }
    public string? CgroupsPath { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    /// <summary>The pid's start time from /proc/&lt;pid&gt;/stat, so a recycled pid is not mistaken for the container.</summary>
    public ulong StartTime { get; set; }

    /// <summary>The OCI state, shaped as runc prints it (state, list --format json).</summary>
    public OciState ToOci() => new()
    {
        Id = Id, Pid = Status == "stopped" ? 0 : Pid, Status = Status, Bundle = Bundle, Rootfs = Rootfs,
        Created = Created, Annotations = Annotations is { Count: > 0 } ? Annotations : null,
    };
}

public sealed class OciState
{
    public string OciVersion { get; set; } = "1.2.0";
    public required string Id { get; set; }
    public int Pid { get; set; }
    public required string Status { get; set; }
    public required string Bundle { get; set; }
    public required string Rootfs { get; set; }
    public DateTime Created { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    public string Owner { get; set; } = "";
}

/// <summary>berth-runc's JSON (see <see cref="JsonCodec{T}"/>); written indented, as runc prints it.</summary>
static class StateJson
{
    public static readonly ObjectCodec<ContainerState> ContainerState = new(() => new() { Id = "", Bundle = "", Rootfs = "" })
    {
        { "id", Codecs.String, o => o.Id, (o, v) => o.Id = v! },
        { "pid", Codecs.Int32, o => o.Pid, (o, v) => o.Pid = v },
        { "status", Codecs.String, o => o.Status, (o, v) => o.Status = v! },
        { "bundle", Codecs.String, o => o.Bundle, (o, v) => o.Bundle = v! },
        { "rootfs", Codecs.String, o => o.Rootfs, (o, v) => o.Rootfs = v! },
        { "created", Codecs.DateTime, o => o.Created, (o, v) => o.Created = v },
        { "cgroupsPath", Codecs.String, o => o.CgroupsPath, (o, v) => o.CgroupsPath = v },
        { "annotations", Codecs.StringMap, o => o.Annotations, (o, v) => o.Annotations = v },
        { "startTime", Codecs.UInt64, o => o.StartTime, (o, v) => o.StartTime = v },
    };

    public static readonly ObjectCodec<OciState> OciState = new(() => new() { Id = "", Status = "", Bundle = "", Rootfs = "" })
    {
        { "ociVersion", Codecs.String, o => o.OciVersion, (o, v) => o.OciVersion = v! },
        { "id", Codecs.String, o => o.Id, (o, v) => o.Id = v! },
        { "pid", Codecs.Int32, o => o.Pid, (o, v) => o.Pid = v },
        { "status", Codecs.String, o => o.Status, (o, v) => o.Status = v! },
        { "bundle", Codecs.String, o => o.Bundle, (o, v) => o.Bundle = v! },
        { "rootfs", Codecs.String, o => o.Rootfs, (o, v) => o.Rootfs = v! },
        { "created", Codecs.DateTime, o => o.Created, (o, v) => o.Created = v },
        { "annotations", Codecs.StringMap, o => o.Annotations, (o, v) => o.Annotations = v },
        { "owner", Codecs.String, o => o.Owner, (o, v) => o.Owner = v! },
    };

    public static readonly JsonCodec<List<OciState>> OciStates = Codecs.ListOf(OciState);
}

/// <summary>
/// The state directory (--root): per container its state.json, a copy of the spec it was created
/// with (exec and delete must not depend on the bundle still being there), and while it is
/// created-but-not-started the start socket its init waits on.
/// </summary>
sealed class StateStore(string root)
{
    public string Dir(string id) => Path.Combine(root, id);
    public string StartSocket(string id) => Path.Combine(Dir(id), "start.sock");
    string SpecPath(string id) => Path.Combine(Dir(id), "config.json");

    /// <summary>Creates the container's directory; fails if the id is taken.</summary>
    public void Reserve(string id, Spec spec)
    {
        if (id.Length == 0 || id.Contains('/') || id is "." or "..") throw new UsageException($"invalid container id \"{id}\"");
        Directory.CreateDirectory(root);
        try { Directory.CreateDirectory(Dir(id)); }
        catch (IOException e) { throw new UsageException($"create {Dir(id)}: {e.Message}"); }
        if (File.Exists(Path.Combine(Dir(id), "state.json")) || File.Exists(SpecPath(id)))
            throw new UsageException($"container with id exists: {id}");
        spec.Save(SpecPath(id));
    }

    public Spec LoadSpec(string id) => Spec.Load(SpecPath(id));

    public void SaveSpec(string id, Spec spec) => spec.Save(SpecPath(id));

    public void Save(ContainerState state)
    {
        var path = Path.Combine(Dir(state.Id), "state.json");
        File.WriteAllBytes(path + ".tmp", StateJson.ContainerState.SerializeToUtf8Bytes(state, indented: true));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public ContainerState? Load(string id)
    {
        var path = Path.Combine(Dir(id), "state.json");
        if (id.Contains('/') || !File.Exists(path)) return null;
        var state = StateJson.ContainerState.Deserialize(File.ReadAllBytes(path));
        if (!IsAlive(state)) state.Status = "stopped";
        return state;
    }

    public ContainerState Get(string id) => Load(id) ?? throw new UsageException($"container \"{id}\" does not exist");

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

    /// <summary>Waits up to <paramref name="timeout"/> for a process that is not our child to exit.</summary>
    public static bool WaitGone(ContainerState s, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsAlive(s))
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(5);
        }
        return true;
    }
}
