using Berth.Runtime;
using Berth.Runtime.Cgroups;
using Microsoft.Win32.SafeHandles;

namespace Berth.Shim;

/// <summary>
/// The container as the shim drives it, whichever runtime made it: Berth's own (the
/// <see cref="LinuxContainer"/> library, in process) or an external OCI runtime's CLI such as runc.
/// </summary>
public interface IRuntimeContainer : IDisposable
{
    int Pid { get; }
    void Start();
    void Signal(int signal);
    int WaitForExit();
    /// <summary>With a terminal: the pty master; the caller takes ownership.</summary>
    SafeFileHandle? TakeConsole();
    /// <summary>The container's cgroup (for OOM kills), when its spec names one.</summary>
    ICgroupManager? Cgroup { get; }
}

/// <summary>Berth's native runtime: the library in this process.</summary>
public sealed class NativeContainer(LinuxContainer container) : IRuntimeContainer
{
    public int Pid => container.Pid;
    public void Start() => container.Start();
    public void Signal(int signal) => container.Signal(signal);
    public int WaitForExit() => container.WaitForExit();
    public SafeFileHandle? TakeConsole() => container.TakeConsole();
    public ICgroupManager? Cgroup => container.Cgroup;
    public void Dispose() => container.Dispose();
}
