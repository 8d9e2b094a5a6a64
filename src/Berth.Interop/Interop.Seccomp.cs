using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    const long SYS_seccomp = 317;
    const uint SECCOMP_SET_MODE_FILTER = 1;

    public const uint SECCOMP_FILTER_FLAG_TSYNC = 1, SECCOMP_FILTER_FLAG_LOG = 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4;

    /// <summary>One classic BPF instruction (struct sock_filter).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public readonly record struct SockFilter(ushort Code, byte Jt, byte Jf, uint K);

    [StructLayout(LayoutKind.Sequential)]
    unsafe struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    // glibc has no seccomp wrapper, so it goes through syscall(2).
    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long SyscallSeccomp(long number, uint operation, uint flags, SockFprog* program);

    /// <summary>
    /// seccomp(SECCOMP_SET_MODE_FILTER): installs <paramref name="program"/> on the calling thread
    /// (on all threads with TSYNC). Needs no_new_privs or CAP_SYS_ADMIN.
    /// </summary>
    public static unsafe int SeccompSetModeFilter(uint flags, ReadOnlySpan<SockFilter> program)
    {
        fixed (SockFilter* p = program)
        {
            var prog = new SockFprog { Length = checked((ushort)program.Length), Filter = p };
            return (int)SyscallSeccomp(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
        }
    }
}
