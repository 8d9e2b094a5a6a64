using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int PR_SET_DUMPABLE = 4, PR_SET_KEEPCAPS = 8, PR_SET_CHILD_SUBREAPER = 36, PR_CAPBSET_DROP = 24, PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47,
        PR_CAP_AMBIENT_RAISE = 2, PR_CAP_AMBIENT_CLEAR_ALL = 4;

    /// <summary>Most of what it sets (keepcaps, bounding set, ambient set, no_new_privs) belongs to the calling thread.</summary>
    [LibraryImport(Name, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
