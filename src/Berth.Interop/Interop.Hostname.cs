using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, EntryPoint = "sethostname", SetLastError = true)]
    public static partial int SetHostname(ReadOnlySpan<byte> name, nint length);

    [LibraryImport(Name, EntryPoint = "setdomainname", SetLastError = true)]
    public static partial int SetDomainname(ReadOnlySpan<byte> name, nint length);
}
