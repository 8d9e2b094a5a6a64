using Berth.Interop;
using Berth.Runtime.Oci;
using static Berth.Interop.LibC;

namespace Berth.Runtime.Cgroups;

/// <summary>
/// cgroup v2 has no devices.allow file: device access is decided by an eBPF program of type
/// CGROUP_DEVICE attached to the cgroup. This compiles the spec's device rules into one. As in
/// runc, the last matching rule wins, so rules are tested from the end; no match denies.
/// A rule matches when type, major and minor agree and the requested access is a subset of the rule's.
/// </summary>
public static class DeviceFilter
{
    // struct bpf_cgroup_dev_ctx { u32 access_type /* access << 16 | type */; u32 major; u32 minor; }
    const int DevTypeBlock = 1, DevTypeChar = 2;
    const int AccessMknod = 1, AccessRead = 2, AccessWrite = 4;

    // Opcodes (class | op | source) and registers used below.
    const byte LdxMemW = 0x61, Alu32AndK = 0x54, Alu32RshK = 0x74, Alu32MovX = 0xbc, JmpJneK = 0x55, Alu64MovK = 0xb7, JmpExit = 0x95, JmpJa = 0x05;
    const byte R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6;

    static BpfInsn I(byte code, byte dst, byte src = 0, short off = 0, int imm = 0) => new(code, (byte)(dst | (src << 4)), off, imm);

    /// <summary>The program for <paramref name="rules"/>, in order of the spec.</summary>
    public static BpfInsn[] Compile(IReadOnlyList<LinuxDeviceCgroup> rules)
    {
        var prog = new List<BpfInsn>
        {
            I(LdxMemW, R2, R1, 0), I(Alu32AndK, R2, imm: 0xFFFF),   // r2 = device type
            I(LdxMemW, R3, R1, 0), I(Alu32RshK, R3, imm: 16),       // r3 = requested access
            I(LdxMemW, R4, R1, 4),                                  // r4 = major
            I(LdxMemW, R5, R1, 8),                                  // r5 = minor
        };
        for (var i = rules.Count - 1; i >= 0; i--)
        {
            var block = new List<BpfInsn>();
            var rule = rules[i];
            int? type = rule.Type switch
            {
                null or "" or "a" => null,
                "b" => DevTypeBlock,
                "c" => DevTypeChar,
                _ => throw new RuntimeException($"linux.resources.devices: unknown device type \"{rule.Type}\""),
            };
            var access = 0;
            foreach (var ch in string.IsNullOrEmpty(rule.Access) ? "rwm" : rule.Access)
                access |= ch switch
                {
                    'r' => AccessRead, 'w' => AccessWrite, 'm' => AccessMknod,
                    _ => throw new RuntimeException($"linux.resources.devices: unknown access \"{rule.Access}\""),
                };
            // Each test jumps past the rest of this block (its "next" label) when it fails; offsets are patched below.
            var jumps = new List<int>();
            if (type is { } t) { jumps.Add(block.Count); block.Add(I(JmpJneK, R2, imm: t)); }
            if (access != (AccessRead | AccessWrite | AccessMknod))
            {
                block.Add(I(Alu32MovX, R6, R3));
                block.Add(I(Alu32AndK, R6, imm: ~access));
                jumps.Add(block.Count); block.Add(I(JmpJneK, R6, imm: 0));
            }
            if (rule.Major is { } major) { jumps.Add(block.Count); block.Add(I(JmpJneK, R4, imm: checked((int)major))); }
            if (rule.Minor is { } minor) { jumps.Add(block.Count); block.Add(I(JmpJneK, R5, imm: checked((int)minor))); }
            block.Add(I(Alu64MovK, R0, imm: rule.Allow ? 1 : 0));
            block.Add(I(JmpExit, 0));
            foreach (var j in jumps) block[j] = block[j] with { Off = checked((short)(block.Count - j - 1)) };
            prog.AddRange(block);
            // A rule that matches everything decides every access; the verifier refuses code after it as unreachable.
            if (jumps.Count == 0) return prog.ToArray();
        }
        prog.Add(I(Alu64MovK, R0, imm: 0));
        prog.Add(I(JmpExit, 0));
        return prog.ToArray();
    }

    /// <summary>Loads the program for <paramref name="rules"/> and attaches it to the cgroup directory, replacing any earlier one.</summary>
    public static void Attach(string cgroupDir, IReadOnlyList<LinuxDeviceCgroup> rules)
    {
        var prog = BpfProgLoad(BPF_PROG_TYPE_CGROUP_DEVICE, Compile(rules), out var log);
        if (prog < 0)
            throw new RuntimeException($"load the device eBPF program: {SysException.FromLastError("bpf").Message}{(log.Length > 0 ? "\n" + log : "")}");
        try
        {
            var dir = Open(cgroupDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dir < 0) throw new RuntimeException(SysException.FromLastError("open", cgroupDir).Message);
            try
            {
                if (BpfProgAttach(dir, prog, BPF_CGROUP_DEVICE) < 0)
                    throw new RuntimeException(SysException.FromLastError("attach the device eBPF program to", cgroupDir).Message);
            }
            finally { Close(dir); }
        }
        finally { Close(prog); }
    }
}
