using Berth.Interop;
using Berth.Runtime.Oci;

namespace Berth.Runtime.Seccomp;

/// <summary>A compiled filter: the program and the flags seccomp(2) loads it with.</summary>
public sealed record SeccompProgram(LibC.SockFilter[] Instructions, uint Flags);

/// <summary>
/// Compiles the spec's <c>linux.seccomp</c> into a classic BPF program, the way libseccomp
/// would for an x86 host. Layout:
/// <code>
///   ld arch; one jeq per listed ABI to its section; else to "bad arch"
///   section: ld nr; [x86_64: nr has the x32 bit → x32 section or bad arch]
///            per syscall: jeq nr → its block (inline "ret" when it has one unconditional rule)
///            ret default
///   blocks:  per rule: argument checks, each failing to the next rule; ret action
///            ret default
///   bad arch: kill the process (libseccomp kills the thread; in a multithreaded program that
///            leaves the rest running, which is worse)
/// </code>
/// Conditional jumps in BPF reach only 255 instructions, so every jump to a block goes through a
/// "ja", whose offset is 32 bits. Arguments are 64-bit on x86_64 (checked as high then low word)
/// and 32-bit on x86 and x32 (the low word), as libseccomp treats them.
/// Semantics follow runc: rules whose action equals the default are dropped; a syscall entry whose
/// conditions name one argument more than once becomes one rule per condition (OR), otherwise
/// its conditions are ANDed; names unknown on an ABI are skipped.
/// </summary>
public static class SeccompCompiler
{
    const ushort LdAbsW = 0x20, Jeq = 0x15, Jgt = 0x25, Jge = 0x35, Ja = 0x05, Ret = 0x06, AndK = 0x54;
    const uint OffsetNr = 0, OffsetArch = 4, OffsetArgs = 16;
    const int MaxInstructions = 4096;

    public const uint RetKillThread = 0, RetKillProcess = 0x80000000, RetTrap = 0x00030000, RetErrno = 0x00050000,
        RetTrace = 0x7ff00000, RetLog = 0x7ffc0000, RetAllow = 0x7fff0000;
    const uint EPERM = 1;

    sealed record Condition(int Index, string Op, ulong Value, ulong ValueTwo);
    sealed record Rule(uint Action, IReadOnlyList<Condition> Conditions);

    public static SeccompProgram Compile(LinuxSeccomp seccomp)
    {
        var defaultAction = Action(seccomp.DefaultAction, seccomp.DefaultErrnoRet, "defaultAction");
        var flags = Flags(seccomp.Flags);
        var arches = Arches(seccomp.Architectures);
        if (seccomp.ListenerPath is not null) throw Invalid("listenerPath", "seccomp notify listeners are not supported");

        // name -> rules, in spec order
        var rules = new Dictionary<string, List<Rule>>(StringComparer.Ordinal);
        for (var i = 0; i < (seccomp.Syscalls?.Count ?? 0); i++)
        {
            var s = seccomp.Syscalls![i];
            var where = $"syscalls[{i}]";
            if (s.Names is not { Count: > 0 }) throw Invalid(where + ".names", "must name at least one syscall");
            var action = Action(s.Action, s.ErrnoRet, where + ".action");
            var conditions = Conditions(s.Args, where);
            if (action == defaultAction) continue;
            var perArg = conditions.GroupBy(c => c.Index).Any(g => g.Count() > 1);
            foreach (var name in s.Names)
            {
                if (string.IsNullOrEmpty(name)) throw Invalid(where + ".names", "contains an empty name");
                if (!rules.TryGetValue(name, out var list)) rules[name] = list = [];
                if (perArg) list.AddRange(conditions.Select(c => new Rule(action, [c])));
                else list.Add(new Rule(action, conditions));
            }
        }

        var asm = new Assembler();
        var badArch = asm.NewLabel();
        var sections = arches.ToDictionary(a => a, _ => asm.NewLabel());
        asm.Load(OffsetArch);
        foreach (var arch in arches.Where(a => a != SeccompArch.X32))
            asm.JumpFar(Jeq, arch == SeccompArch.X86 ? SyscallTable.AuditArchI386 : SyscallTable.AuditArchX86_64, sections[arch]);
        // x32 shares x86_64's audit arch, so with only x32 listed its section is reached through the x86_64 check.
        if (arches.Contains(SeccompArch.X32) && !arches.Contains(SeccompArch.X86_64))
            asm.JumpFar(Jeq, SyscallTable.AuditArchX86_64, sections[SeccompArch.X32]);
        asm.Goto(badArch);

        var blocks = new Dictionary<(string Name, bool Wide), int>();
        var pendingBlocks = new List<(int Label, List<Rule> Rules, bool Wide)>();
        foreach (var arch in arches)
        {
            asm.Label(sections[arch]);
            asm.Load(OffsetNr);
            if (arch == SeccompArch.X86_64)
                asm.JumpFar(Jge, SyscallTable.X32SyscallBit, arches.Contains(SeccompArch.X32) ? sections[SeccompArch.X32] : badArch);
            else if (arch == SeccompArch.X32 && !arches.Contains(SeccompArch.X86_64))
                // Without x86_64 the section is entered on the shared audit arch directly, so a number
                // without the x32 bit is an x86_64 call, an ABI the profile doesn't allow.
            {
                asm.JumpIf(Jge, SyscallTable.X32SyscallBit, Assembler.Skip1, Assembler.Next);
                asm.Goto(badArch);
            }
            var wide = arch == SeccompArch.X86_64;
            var numbered = rules.Select(r => (Nr: SyscallTable.Number(r.Key, arch), r.Key, r.Value))
                .Where(r => r.Nr is not null).OrderBy(r => r.Nr).ToList();
            foreach (var (nr, name, list) in numbered)
            {
                if (list is [{ Conditions.Count: 0 } only])
                {
                    asm.JumpIf(Jeq, nr!.Value, Assembler.Next, Assembler.Skip1);
                    asm.Return(only.Action);
                    continue;
                }
                if (!blocks.TryGetValue((name, wide), out var block))
                {
                    blocks[(name, wide)] = block = asm.NewLabel();
                    pendingBlocks.Add((block, list, wide));
                }
                asm.JumpFar(Jeq, nr!.Value, block);
            }
            asm.Return(defaultAction);
        }

        foreach (var (label, list, wide) in pendingBlocks)
        {
            asm.Label(label);
            // Unconditional rules match everything, so they go last or they would shadow the conditional ones.
            foreach (var rule in list.OrderBy(r => r.Conditions.Count == 0))
            {
                var next = asm.NewLabel();
                foreach (var c in rule.Conditions) EmitCondition(asm, c, wide, next);
                asm.Return(rule.Action);
                asm.Label(next);
            }
            asm.Return(defaultAction);
        }
        asm.Label(badArch);
        asm.Return(RetKillProcess);

        var program = asm.Build();
        if (program.Length > MaxInstructions)
            throw new RuntimeException($"seccomp: the profile compiles to {program.Length} BPF instructions, more than the kernel's limit of {MaxInstructions}");
        return new SeccompProgram(program, flags);
    }

    /// <summary>Leaves the accumulator clobbered; falls through when the condition holds, jumps to <paramref name="fail"/> when not.</summary>
    static void EmitCondition(Assembler asm, Condition c, bool wide, int fail)
    {
        var lo = OffsetArgs + 8 * (uint)c.Index;
        var hi = lo + 4;
        uint vLo = (uint)c.Value, vHi = (uint)(c.Value >> 32);
        if (c.Op == "SCMP_CMP_MASKED_EQ")
        {
            uint wLo = (uint)c.ValueTwo, wHi = (uint)(c.ValueTwo >> 32);
            if (wide)
            {
                asm.Load(hi);
                asm.Emit(AndK, vHi);
                asm.JumpIf(Jeq, wHi, Assembler.Next, fail);
            }
            asm.Load(lo);
            asm.Emit(AndK, vLo);
            asm.JumpIf(Jeq, wLo, Assembler.Next, fail);
            return;
        }
        // Each op as (high-word jump, low-word jump): "negated" ops swap where they land.
        var (code, negate) = c.Op switch
        {
            "SCMP_CMP_EQ" => (Jeq, false),
            "SCMP_CMP_NE" => (Jeq, true),
            "SCMP_CMP_GT" => (Jgt, false),
            "SCMP_CMP_GE" => (Jge, false),
            "SCMP_CMP_LE" => (Jgt, true),
            "SCMP_CMP_LT" => (Jge, true),
            _ => throw new InvalidOperationException(c.Op),
        };
        int pass = asm.NewLabel(), holds = negate ? fail : pass, fails = negate ? pass : fail;
        if (wide)
        {
            asm.Load(hi);
            if (code == Jeq) asm.JumpIf(Jeq, vHi, Assembler.Next, fails);
            else
            {
                // Unsigned order: the high words decide unless they are equal.
                asm.JumpIf(Jgt, vHi, holds, Assembler.Next);
                asm.JumpIf(Jeq, vHi, Assembler.Next, fails);
            }
        }
        asm.Load(lo);
        asm.JumpIf(code, vLo, holds, fails);
        asm.Label(pass);
    }

    static uint Action(string name, uint? errnoRet, string field) => name switch
    {
        "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD" => RetKillThread,
        "SCMP_ACT_KILL_PROCESS" => RetKillProcess,
        "SCMP_ACT_TRAP" => RetTrap,
        "SCMP_ACT_ERRNO" => RetErrno | ((errnoRet ?? EPERM) & 0xffff),
        "SCMP_ACT_TRACE" => RetTrace | ((errnoRet ?? EPERM) & 0xffff),
        "SCMP_ACT_LOG" => RetLog,
        "SCMP_ACT_ALLOW" => RetAllow,
        "SCMP_ACT_NOTIFY" => throw Invalid(field, "SCMP_ACT_NOTIFY is not supported (no seccomp listener)"),
        _ => throw Invalid(field, $"unknown action \"{name}\""),
    };

    /// <summary>What <see cref="Action"/>, <see cref="Flags"/> and <see cref="Arches"/> accept, for `berth-runc features`.</summary>
    internal static readonly string[] SupportedActions =
        ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW"];
    internal static readonly string[] SupportedFlags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];
    internal static IEnumerable<string> KnownArches => ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", .. KnownForeignArches];

    internal static readonly string[] Ops = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];

    static List<Condition> Conditions(List<LinuxSeccompArg>? args, string where)
    {
        var list = new List<Condition>();
        for (var i = 0; i < (args?.Count ?? 0); i++)
        {
            var a = args![i];
            if (a.Index > 5) throw Invalid($"{where}.args[{i}].index", $"{a.Index} is out of range (a syscall has 6 arguments, 0-5)");
            if (!Ops.Contains(a.Op)) throw Invalid($"{where}.args[{i}].op", $"unknown operator \"{a.Op}\"");
            list.Add(new Condition((int)a.Index, a.Op, a.Value, a.ValueTwo ?? 0));
        }
        return list;
    }

    static uint Flags(List<string>? names)
    {
        uint flags = 0;
        foreach (var name in names ?? [])
            flags |= name switch
            {
                "SECCOMP_FILTER_FLAG_TSYNC" => LibC.SECCOMP_FILTER_FLAG_TSYNC,
                "SECCOMP_FILTER_FLAG_LOG" => LibC.SECCOMP_FILTER_FLAG_LOG,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => LibC.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                _ => throw Invalid("flags", $"unknown flag \"{name}\""),
            };
        return flags;
    }

    /// <summary>The x86 ABIs to filter; other architectures can never run on this host and are left out.</summary>
    static List<SeccompArch> Arches(List<string>? names)
    {
        if (names is not { Count: > 0 }) return [SeccompArch.X86_64];
        var arches = new List<SeccompArch>();
        foreach (var name in names)
        {
            SeccompArch? arch = name switch
            {
                "SCMP_ARCH_X86_64" => SeccompArch.X86_64,
                "SCMP_ARCH_X86" => SeccompArch.X86,
                "SCMP_ARCH_X32" => SeccompArch.X32,
                _ when KnownForeignArches.Contains(name) => null,
                _ => throw Invalid("architectures", $"unknown architecture \"{name}\""),
            };
            if (arch is { } a && !arches.Contains(a)) arches.Add(a);
        }
        // BPF jumps only forward: x86_64's section must come before the x32 one it hands over to.
        arches.Sort();
        return arches.Count > 0 ? arches : throw Invalid("architectures", "lists no architecture this x86_64 host can run");
    }

    static readonly string[] KnownForeignArches =
    [
        "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
        "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
    ];

    static RuntimeException Invalid(string field, string problem) => new($"seccomp: linux.seccomp.{field}: {problem}");

    /// <summary>Instructions with symbolic jump targets, resolved to relative offsets by <see cref="Build"/>.</summary>
    sealed class Assembler
    {
        /// <summary>Jump target "the next instruction" (offset 0), and "skip one instruction".</summary>
        public const int Next = -1, Skip1 = -2;

        readonly List<(ushort Code, int Jt, int Jf, uint K, int FarLabel)> code = [];
        readonly List<int> labels = [];

        public int NewLabel()
        {
            labels.Add(-1);
            return labels.Count - 1;
        }

        public void Label(int label) => labels[label] = code.Count;

        public void Emit(ushort op, uint k) => code.Add((op, Next, Next, k, -1));

        public void Load(uint offset) => Emit(LdAbsW, offset);

        public void Return(uint value) => Emit(Ret, value);

        public void JumpIf(ushort op, uint k, int jt, int jf) => code.Add((op, jt, jf, k, -1));

        /// <summary>Conditional jump to a label that may be out of a conditional jump's reach: the test, then a ja.</summary>
        public void JumpFar(ushort op, uint k, int label)
        {
            JumpIf(op, k, Next, Skip1);
            Goto(label);
        }

        public void Goto(int label) => code.Add((Ja, Next, Next, 0, label));

        public LibC.SockFilter[] Build()
        {
            var program = new LibC.SockFilter[code.Count];
            for (var i = 0; i < code.Count; i++)
            {
                var (op, jt, jf, k, far) = code[i];
                if (far >= 0) k = (uint)Offset32(i, Target(far));
                program[i] = new LibC.SockFilter(op, Offset(i, jt), Offset(i, jf), k);
            }
            return program;
        }

        int Target(int label) => labels[label] >= 0 ? labels[label] : throw new InvalidOperationException($"seccomp: label {label} never placed");

        static int Offset32(int at, int target) =>
            target > at ? target - at - 1 : throw new InvalidOperationException($"seccomp: backward jump from {at}");

        byte Offset(int at, int target)
        {
            var offset = target switch { Next => 0, Skip1 => 1, _ => Target(target) - at - 1 };
            if (offset is < 0 or > 255) throw new InvalidOperationException($"seccomp: jump from {at} out of range ({offset})");
            return (byte)offset;
        }
    }
}
