using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    /// <summary>Starts a new session with no controlling terminal; EPERM if the caller already leads a process group.</summary>
    [LibraryImport(Name, EntryPoint = "setsid", SetLastError = true)]
    public static partial int Setsid();
}
