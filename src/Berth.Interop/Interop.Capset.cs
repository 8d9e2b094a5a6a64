using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    public const uint _LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    [StructLayout(LayoutKind.Sequential)]
    public struct CapHeader { public uint Version; public int Pid; }

    [StructLayout(LayoutKind.Sequential)]
    public struct CapData { public uint Effective; public uint Permitted; public uint Inheritable; }

    /// <summary>Sets the calling thread's capabilities; <paramref name="data"/> holds two elements (caps 0-31, 32-63).</summary>
    [LibraryImport(Name, EntryPoint = "capset", SetLastError = true)]
    public static partial int Capset(in CapHeader header, ReadOnlySpan<CapData> data);
}
