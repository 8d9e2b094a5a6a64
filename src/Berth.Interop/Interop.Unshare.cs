using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const int CLONE_FS = 0x200, CLONE_NEWNS = 0x20000, CLONE_NEWCGROUP = 0x2000000, CLONE_NEWUTS = 0x4000000,
        CLONE_NEWIPC = 0x8000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;

    /// <summary>Applies to the calling thread only.</summary>
    [LibraryImport(Name, EntryPoint = "unshare", SetLastError = true)]
    public static partial int Unshare(int flags);
}
