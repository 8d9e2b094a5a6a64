using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int PRIO_PROCESS = 0;

    /// <summary>
    /// Sets the nice value of one thread: on Linux PRIO_PROCESS with a thread id (0: the caller) applies
    /// to that thread only, and threads it creates later inherit it.
    /// </summary>
    [LibraryImport(Name, EntryPoint = "setpriority", SetLastError = true)]
    public static partial int SetPriority(int which, uint who, int prio);

    /// <summary>The nice value of one thread (0: the caller); -1 is a valid result, so check errno.</summary>
    [LibraryImport(Name, EntryPoint = "getpriority", SetLastError = true)]
    public static partial int GetPriority(int which, uint who);
}
