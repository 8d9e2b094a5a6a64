using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime;

// CONTRACT between the runtime (libcontainer) and its callers (berth-shim, berth-runc).
// Signatures are fixed; bodies are filled in by the runtime work.

/// <summary>Host file descriptors that become the container process's fds 0, 1 and 2. -1 means /dev/null.</summary>
public sealed record ContainerStdio(int Stdin, int Stdout, int Stderr);

public sealed class CreateOptions
{
    /// <summary>Container id, used for the cgroup and state names.</summary>
    public required string Id { get; init; }
    /// <summary>OCI bundle directory. <c>root.path</c> in the spec is resolved against it.</summary>
    public required string BundleDir { get; init; }
    /// <summary>The spec; when null, <c>BundleDir/config.json</c> is read.</summary>
    public Oci.Spec? Spec { get; init; }
    /// <summary>
    /// Stdio for init. With <c>process.terminal</c> the user's process gets the pty init makes
    /// instead, and this only carries init's own output until then.
    /// </summary>
    public required ContainerStdio Stdio { get; init; }
    /// <summary>
    /// With <c>process.terminal</c>: a unix socket to send the pty master to (SCM_RIGHTS), as runc's
    /// --console-socket. When null the master stays with the container (<see cref="LinuxContainer.TakeConsole"/>).
    /// </summary>
    public string? ConsoleSocket { get; init; }
    /// <summary>Path of the berth-runc binary used as the init stage; default: berth-runc beside the current executable.</summary>
    public string? InitPath { get; init; }
    /// <summary>
    /// When set, init waits for <see cref="LinuxContainer.Start(string)"/> on a unix socket bound at this
    /// path, so another process can start the container after this one has exited (runc's create/start).
    /// </summary>
    public string? StartSocket { get; init; }
    /// <summary>How many of the caller's fds from 3 up the container's process inherits, under the same numbers.</summary>
    public int PreserveFds { get; init; }
}

/// <summary>What <see cref="LinuxContainer.ExecIn"/> needs to know about a container another process created.</summary>
public sealed class ExecOptions
{
    public required string Id { get; init; }
    /// <summary>Host pid of the container's init.</summary>
    public required int Pid { get; init; }
    public required string BundleDir { get; init; }
    public required Oci.Spec Spec { get; init; }
    public required Oci.Process Process { get; init; }
    public required ContainerStdio Stdio { get; init; }
    public string? ConsoleSocket { get; init; }
    public string? InitPath { get; init; }
    public int PreserveFds { get; init; }
}

/// <summary>
/// A container whose init stage has set up namespaces and the root filesystem and now waits to
/// exec the user's process. Create → Start → WaitForExit → Destroy.
/// </summary>
public sealed partial class LinuxContainer : IDisposable
{
    public string Id { get; }
    /// <summary>Host pid of the container's init (later the user's process, which is pid 1 inside).</summary>
    public int Pid { get; }
}
