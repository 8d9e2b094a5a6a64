using System.Text.Json.Serialization;
using Berth.Api;

namespace Berth.Daemon.Containers;

/// <summary>The persisted part of a container's state, as inspect reports it.</summary>
public sealed class ContainerStateRecord
{
    public string Status { get; set; } = "created";
    public int Pid { get; set; }
    public int ExitCode { get; set; }
    public string Error { get; set; } = "";
    public bool OOMKilled { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset FinishedAt { get; set; }
}

/// <summary>Everything stored about a container; one JSON row per container in the GraphDB.</summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";
    /// <summary>With the leading slash, as Docker stores it: "/web".</summary>
    public string Name { get; set; } = "";
    public DateTimeOffset Created { get; set; }
    public string ImageId { get; set; } = "";
    public string Path { get; set; } = "";
    public List<string> Args { get; set; } = new();
    public ContainerConfig Config { get; set; } = new();
    public HostConfig HostConfig { get; set; } = new();
    public ContainerStateRecord State { get; set; } = new();
    public string Driver { get; set; } = "";
    public string Runtime { get; set; } = "native";
    public int RestartCount { get; set; }
    /// <summary>The networks the container is on, by name (Docker's NetworkSettings.Networks); addresses only while running.</summary>
    public Dictionary<string, EndpointSettings> Networks { get; set; } = new();
    public ContainerNetworkState NetworkState { get; set; } = new();
}

/// <summary>What the networkdriver made for a running container, kept so a restarted daemon can find and undo it.</summary>
public sealed class ContainerNetworkState
{
    /// <summary>The host end of each network's veth, by network id.</summary>
    public Dictionary<string, string> HostVeths { get; set; } = new();
    /// <summary>Published ports as bound ("80/tcp" → host ip and concrete port).</summary>
    public Dictionary<string, List<PortBinding>?> Ports { get; set; } = new();
}

/// <summary>
/// A container as the daemon holds it: the stored record plus what only lives while berthd runs
/// (the shim connection, waiters, pending attaches). State changes go through <see cref="Lock"/>.
/// </summary>
public sealed class Container
{
    public Container(ContainerRecord record) => Record = record;

    public ContainerRecord Record { get; }
    public string Id => Record.Id;
    public string Name => Record.Name;
    public string ShortId => Record.Id[..12];
    public ContainerStateRecord State => Record.State;

    /// <summary>Serialises lifecycle operations (start, stop, rm) on this container.</summary>
    public SemaphoreSlim Lock { get; } = new(1, 1);

    public Shim.Client.ShimClient? Shim { get; set; }

    public bool IsRunning => State.Status is "running" or "paused" or "restarting";

    /// <summary>Completed (and replaced) each time the container stops; carries the exit code.</summary>
    TaskCompletionSource<int> _nextExit = NewExit();
    /// <summary>Completed when the container is removed.</summary>
    public TaskCompletionSource Removed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Attach requests that arrived before start; start connects them before the process runs.</summary>
    public List<PendingAttach> PendingAttaches { get; } = new();

    static TaskCompletionSource<int> NewExit() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<int> NextExit { get { lock (this) return _nextExit.Task; } }

    public void SignalExit(int code)
    {
        TaskCompletionSource<int> done;
        lock (this)
        {
            done = _nextExit;
            _nextExit = NewExit();
        }
        done.TrySetResult(code);
    }
}

/// <summary>A client waiting, hijacked, for its container to start.</summary>
public sealed class PendingAttach
{
    public required bool Stdin { get; init; }
    public required bool Stdout { get; init; }
    public required bool Stderr { get; init; }
    /// <summary>Set by start with the shim's attach stream, or failed when start fails.</summary>
    public TaskCompletionSource<Shim.Client.ShimAttachStream> Connected { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class DaemonJson : JsonSerializerContext
{
}
