using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    const long SYS_bpf = 321;
    const int BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8;
    public const uint BPF_PROG_TYPE_CGROUP_DEVICE = 15, BPF_CGROUP_DEVICE = 6;

    /// <summary>One eBPF instruction (struct bpf_insn): registers packed dst low nibble, src high.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public readonly record struct BpfInsn(byte Code, byte Regs, short Off, int Imm);

    // glibc has no bpf wrapper, so it goes through syscall(2).
    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long SyscallBpf(long number, int cmd, byte* attr, uint size);

    /// <summary>
    /// bpf(BPF_PROG_LOAD): loads <paramref name="program"/> and returns its fd. On failure the
    /// verifier's log is returned in <paramref name="log"/>.
    /// </summary>
    public static unsafe int BpfProgLoad(uint type, ReadOnlySpan<BpfInsn> program, out string log)
    {
        var attr = stackalloc byte[128];
        new Span<byte>(attr, 128).Clear();
        var license = "GPL\0"u8;
        var logBuf = new byte[16384];
        fixed (BpfInsn* insns = program)
        fixed (byte* lic = license)
        fixed (byte* lb = logBuf)
        {
            *(uint*)(attr + 0) = type;
            *(uint*)(attr + 4) = (uint)program.Length;
            *(ulong*)(attr + 8) = (ulong)insns;
            *(ulong*)(attr + 16) = (ulong)lic;
            *(uint*)(attr + 24) = 1; // log_level: only filled when the verifier refuses
            *(uint*)(attr + 28) = (uint)logBuf.Length;
            *(ulong*)(attr + 32) = (ulong)lb;
            var fd = (int)SyscallBpf(SYS_bpf, BPF_PROG_LOAD, attr, 128);
            log = fd < 0 ? System.Text.Encoding.UTF8.GetString(logBuf).TrimEnd('\0') : "";
            return fd;
        }
    }

    /// <summary>bpf(BPF_PROG_ATTACH) of a loaded program to the cgroup open at <paramref name="cgroupFd"/>; replaces one attached before with the same flags.</summary>
    public static unsafe int BpfProgAttach(int cgroupFd, int progFd, uint attachType, uint flags = 0)
    {
        var attr = stackalloc byte[32];
        new Span<byte>(attr, 32).Clear();
        *(uint*)(attr + 0) = (uint)cgroupFd;
        *(uint*)(attr + 4) = (uint)progFd;
        *(uint*)(attr + 8) = attachType;
        *(uint*)(attr + 12) = flags;
        return (int)SyscallBpf(SYS_bpf, BPF_PROG_ATTACH, attr, 32);
    }
}
