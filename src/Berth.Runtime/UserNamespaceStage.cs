using System.Text;
using Berth.Interop;
using Berth.Runtime.Oci;

namespace Berth.Runtime;

/// <summary>
/// The runtime's half of berth-runc's C stage (src/Berth.Runc/native/userns.c), which enters the
/// user namespace before the .NET runtime starts. The stage is the process
/// <see cref="NamespaceSpawner"/> spawned; it asks for its id maps (a new user namespace only),
/// creates the other namespaces inside the user namespace, clones init as this process's child,
/// reports init's pid and exits. The maps are written from here: only a process outside the
/// namespace, holding CAP_SETUID/CAP_SETGID over it, may map arbitrary host ids.
/// </summary>
public static class UserNamespaceStage
{
    /// <summary>Tells berth-runc's C stage what to do; see userns.c for the format.</summary>
    public const string EnvironmentVariable = "_BERTH_USERNS";

    /// <summary>
    /// Finishes the stage running as <paramref name="stagePid"/> and returns init's pid. On failure
    /// the stage is killed and reaped, and the error names what failed.
    /// </summary>
    public static int Complete(SyncChannel channel, int stagePid, Linux? linux)
    {
        var reaped = false;
        try
        {
            var message = channel.Receive();
            if (message?.Type == SyncMessage.IdMap)
            {
                WriteMap(stagePid, "uid_map", linux?.UidMappings);
                WriteMap(stagePid, "gid_map", linux?.GidMappings);
                channel.Send(new SyncMessage { Type = SyncMessage.IdMapped });
                message = channel.Receive();
            }
            var status = ProcessControl.Reap(stagePid);
            reaped = true;
            if (message is { Type: SyncMessage.InitPid, Pid: > 0 }) return message.Pid.Value;
            throw new RuntimeException(message?.Type == SyncMessage.Error
                ? message.Message ?? "user namespace stage failed"
                : $"user namespace: the stage exited without starting init (exit status {status}); is berth-runc built with its C stage?");
        }
        catch
        {
            if (!reaped)
            {
                ProcessControl.Signal(stagePid, LibC.SIGKILL);
                ProcessControl.Reap(stagePid);
            }
            throw;
        }
    }

    /// <summary>The kernel takes a map in a single write, and only once.</summary>
    static void WriteMap(int pid, string file, List<LinuxIdMapping>? mappings)
    {
        var path = $"/proc/{pid}/{file}";
        var text = Encoding.ASCII.GetBytes(string.Concat((mappings ?? []).Select(m => $"{m.ContainerId} {m.HostId} {m.Size}\n")));
        var fd = LibC.Check(LibC.Open(path, LibC.O_WRONLY | LibC.O_CLOEXEC), "open", path);
        try
        {
            if (LibC.Write(fd, text) != text.Length)
                throw new RuntimeException($"user namespace: writing {path}: {SysException.FromLastError("write", path).Message}");
        }
        finally { LibC.Close(fd); }
    }
}
