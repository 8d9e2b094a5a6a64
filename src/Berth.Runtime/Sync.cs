using Berth.Interop;
using Berth.Runtime.Json;
using Berth.Runtime.Oci;

namespace Berth.Runtime;

// The parent <-> init protocol over the socket that init sees as fd 3. One JSON object per line:
//   with a user namespace, berth-runc's C stage speaks first (UserNamespaceStage.cs):
//                                    stage -> parent : idmap (a new user namespace; waits for its maps)
//   parent -> stage : idmapped
//                                    stage -> parent : pid (init's) | error; then the stage exits
//   parent -> init : config            init -> parent : ready | error
//                                    init -> parent : hooks (prestart/createRuntime exist; before pivot_root)
//   parent -> init : resume (the hooks ran)
//                                    init -> parent : console, with the pty master attached (process.terminal only)
//   parent -> init : start             init -> parent : EOF (exec succeeded: fd 3 is close-on-exec) | error
//   or, when another process starts the container (berth-runc create, then start):
//   parent -> init : detach + SCM_RIGHTS(listening socket); init accepts one connection on it and
//                    reads start (and answers) on that connection instead (StartSocket.cs)

/// <summary>What init needs beyond the spec: where the rootfs and bundle are on the host.</summary>
public sealed record InitConfig
{
    public required Spec Spec { get; set; }
    public required string Rootfs { get; set; }
    public required string BundleDir { get; set; }
    /// <summary>Start a process in an existing container instead of building one.</summary>
    public bool IsExec { get; set; }
    /// <summary>For exec: the container's mount namespace, which init enters itself.</summary>
    public string? MountNamespace { get; set; }
    /// <summary>For the hooks' state: the container's id and init's pid as the runtime sees it.</summary>
    public string Id { get; set; } = "";
    public int HostPid { get; set; }
    /// <summary>How many of the caller's fds from 3 up the process inherits (runc's --preserve-fds).</summary>
    public int PreservedFds { get; set; }

    public HookState HookState(string status) =>
        new() { Id = Id, Status = status, Pid = HostPid, Bundle = BundleDir, Annotations = Spec.Annotations };
}

public sealed class SyncMessage
{
    public const string Config = "config", Ready = "ready", Start = "start", Error = "error", Console = "console",
        Hooks = "hooks", Resume = "resume", Detach = "detach", IdMap = "idmap", IdMapped = "idmapped", InitPid = "pid";

    public required string Type { get; set; }
    public string? Message { get; set; }
    public InitConfig? InitConfig { get; set; }
    /// <summary>In an <see cref="InitPid"/> message: init's pid, as the runtime sees it.</summary>
    public int? Pid { get; set; }
}

/// <summary>The sync protocol's JSON (see <see cref="JsonCodec{T}"/>): one compact object per line.</summary>
public static class SyncJson
{
    public static readonly ObjectCodec<InitConfig> InitConfig = new(() => new() { Spec = null!, Rootfs = "", BundleDir = "" })
    {
        { "spec", SpecJson.Spec, o => o.Spec, (o, v) => o.Spec = v! },
        { "rootfs", Codecs.String, o => o.Rootfs, (o, v) => o.Rootfs = v! },
        { "bundleDir", Codecs.String, o => o.BundleDir, (o, v) => o.BundleDir = v! },
        { "isExec", Codecs.Bool, o => o.IsExec, (o, v) => o.IsExec = v },
        { "mountNamespace", Codecs.String, o => o.MountNamespace, (o, v) => o.MountNamespace = v },
        { "id", Codecs.String, o => o.Id, (o, v) => o.Id = v! },
        { "hostPid", Codecs.Int32, o => o.HostPid, (o, v) => o.HostPid = v },
        { "preservedFds", Codecs.Int32, o => o.PreservedFds, (o, v) => o.PreservedFds = v },
    };

    public static readonly ObjectCodec<SyncMessage> Message = new(() => new() { Type = "" })
    {
        { "type", Codecs.String, o => o.Type, (o, v) => o.Type = v! },
        { "message", Codecs.String, o => o.Message, (o, v) => o.Message = v },
        { "initConfig", InitConfig, o => o.InitConfig, (o, v) => o.InitConfig = v },
        { "pid", Codecs.NullableInt32, o => o.Pid, (o, v) => o.Pid = v },
    };
}

/// <summary>
/// One end of the sync socket. Reads with recvmsg rather than a stream, because a message may carry a
/// descriptor (the console's pty master) and a buffered stream read would drop it.
/// </summary>
public sealed class SyncChannel : IDisposable
{
    /// <summary>Init's end of the sync socket, unless fds are preserved: then it follows them, and init is told its number in argv.</summary>
    public const int InitFd = 3;

    readonly int fd;
    readonly List<byte> pending = [];
    readonly List<int> receivedFds = [];
    bool disposed;

    public SyncChannel(int fd)
    {
        this.fd = fd;
        // Fails when the fd is not open, so init run by hand gets a clear message.
        LibC.Check(LibC.Fcntl(fd, LibC.F_GETFD, 0), "fcntl F_GETFD", $"fd {fd}");
    }

    public void Send(SyncMessage message, int passFd = -1)
    {
        var bytes = SyncJson.Message.SerializeToUtf8Bytes(message);
        Array.Resize(ref bytes, bytes.Length + 1);
        bytes[^1] = (byte)'\n';
        ReadOnlySpan<int> fds = passFd >= 0 ? [passFd] : [];
        for (var sent = 0; sent < bytes.Length;)
        {
            // The descriptor rides on the first byte; the rest, if the kernel took only part, goes without it.
            var n = LibC.SendWithFds(fd, bytes.AsSpan(sent), sent == 0 ? fds : []);
            if (n < 0)
            {
                var e = SysException.FromLastError("sendmsg", "sync socket");
                if (e.Errno == Errno.EINTR) continue;
                throw new IOException(e.Message, e);
            }
            sent += (int)n;
        }
    }

    /// <summary>The next message, or null at EOF (the peer exec'd or exited).</summary>
    public SyncMessage? Receive()
    {
        Span<byte> buffer = stackalloc byte[4096];
        while (true)
        {
            var newline = pending.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = pending.GetRange(0, newline).ToArray();
                pending.RemoveRange(0, newline + 1);
                return SyncJson.Message.Deserialize(line);
            }
            var n = LibC.ReceiveWithFds(fd, buffer, receivedFds);
            if (n == 0) return null;
            if (n < 0)
            {
                var e = SysException.FromLastError("recvmsg", "sync socket");
                if (e.Errno == Errno.EINTR) continue;
                // ECONNRESET: the peer died with unread data; for the protocol that is EOF.
                return null;
            }
            pending.AddRange(buffer[..(int)n]);
        }
    }

    /// <summary>The oldest descriptor received and not yet taken; the caller owns it.</summary>
    public int TakeFd()
    {
        if (receivedFds.Count == 0) throw new RuntimeException("sync: expected a descriptor from init, got none");
        var taken = receivedFds[0];
        receivedFds.RemoveAt(0);
        return taken;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var extra in receivedFds) LibC.Close(extra);
        receivedFds.Clear();
        LibC.Close(fd);
    }
}
