using Berth.Interop;
using Berth.Runtime.Oci;
using Berth.Runtime.Seccomp;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// The compiled BPF run through a small interpreter of the instructions the compiler emits, so
/// every operator, ABI and action is checked without loading a filter into this process.
/// </summary>
public sealed class SeccompCompilerTests
{
    const uint X86_64 = 0xC000003E, I386 = 0x40000003, X32Bit = 0x40000000;
    const uint Allow = SeccompCompiler.RetAllow, Eperm = SeccompCompiler.RetErrno | 1;

    static uint Run(LibC.SockFilter[] program, uint arch, uint nr, params ulong[] args)
    {
        var data = new byte[64];
        BitConverter.TryWriteBytes(data.AsSpan(0), nr);
        BitConverter.TryWriteBytes(data.AsSpan(4), arch);
        for (var i = 0; i < args.Length; i++) BitConverter.TryWriteBytes(data.AsSpan(16 + 8 * i), args[i]);
        uint acc = 0;
        for (var pc = 0; pc < program.Length; pc++)
        {
            var (code, jt, jf, k) = (program[pc].Code, program[pc].Jt, program[pc].Jf, program[pc].K);
            switch (code)
            {
                case 0x20: acc = BitConverter.ToUInt32(data, (int)k); break;
                case 0x54: acc &= k; break;
                case 0x06: return k;
                case 0x05: pc += (int)k; break;
                case 0x15: pc += acc == k ? jt : jf; break;
                case 0x25: pc += acc > k ? jt : jf; break;
                case 0x35: pc += acc >= k ? jt : jf; break;
                default: throw new InvalidOperationException($"unexpected opcode {code:x} at {pc}");
            }
        }
        throw new InvalidOperationException("fell off the end of the program");
    }

    static LinuxSeccomp Profile(string defaultAction, params LinuxSyscall[] syscalls) => new()
    {
        DefaultAction = defaultAction, Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], Syscalls = [.. syscalls],
    };

    static LinuxSyscall Rule(string name, string action, params LinuxSeccompArg[] args) => new() { Names = [name], Action = action, Args = [.. args] };

    [Theory]
    [InlineData("SCMP_CMP_EQ", 5ul, 0ul, new ulong[] { 5 }, new ulong[] { 4, 6, 5 + (1ul << 32) })]
    [InlineData("SCMP_CMP_NE", 5ul, 0ul, new ulong[] { 4, 5 + (1ul << 32) }, new ulong[] { 5 })]
    [InlineData("SCMP_CMP_GT", 5ul, 0ul, new ulong[] { 6, 1ul << 32 }, new ulong[] { 5, 0 })]
    [InlineData("SCMP_CMP_GE", 5ul, 0ul, new ulong[] { 5, 6, 1ul << 40 }, new ulong[] { 4 })]
    [InlineData("SCMP_CMP_LT", 5ul, 0ul, new ulong[] { 4, 0 }, new ulong[] { 5, 1ul << 32 })]
    [InlineData("SCMP_CMP_LE", 5ul, 0ul, new ulong[] { 5, 0 }, new ulong[] { 6, (1ul << 32) + 1 })]
    [InlineData("SCMP_CMP_MASKED_EQ", 0xF0ul | (1ul << 36), 0x20ul, new ulong[] { 0x21, 0x2F }, new ulong[] { 0x30, 0x20 | (1ul << 36) })]
    public void Argument_operators_compare_all_64_bits_on_x86_64(string op, ulong value, ulong valueTwo, ulong[] matching, ulong[] notMatching)
    {
        var program = SeccompCompiler.Compile(Profile("SCMP_ACT_ALLOW",
            Rule("fchmodat", "SCMP_ACT_ERRNO", new LinuxSeccompArg { Index = 2, Op = op, Value = value, ValueTwo = valueTwo }))).Instructions;
        const uint fchmodat = 268;
        foreach (var v in matching) Assert.Equal(Eperm, Run(program, X86_64, fchmodat, 0, 0, v));
        foreach (var v in notMatching) Assert.Equal(Allow, Run(program, X86_64, fchmodat, 0, 0, v));
    }

    [Fact]
    public void Conditions_on_different_arguments_must_all_hold()
    {
        var program = SeccompCompiler.Compile(Profile("SCMP_ACT_ALLOW", Rule("socket", "SCMP_ACT_ERRNO",
            new LinuxSeccompArg { Index = 0, Op = "SCMP_CMP_EQ", Value = 2 },
            new LinuxSeccompArg { Index = 1, Op = "SCMP_CMP_EQ", Value = 3 }))).Instructions;
        Assert.Equal(Eperm, Run(program, X86_64, 41, 2, 3));
        Assert.Equal(Allow, Run(program, X86_64, 41, 2, 1));
        Assert.Equal(Allow, Run(program, X86_64, 41, 10, 3));
    }

    [Fact]
    public void Conditions_naming_one_argument_twice_are_alternatives_as_in_runc()
    {
        var program = SeccompCompiler.Compile(Profile("SCMP_ACT_ERRNO", Rule("personality", "SCMP_ACT_ALLOW",
            new LinuxSeccompArg { Index = 0, Op = "SCMP_CMP_EQ", Value = 0 },
            new LinuxSeccompArg { Index = 0, Op = "SCMP_CMP_EQ", Value = 8 }))).Instructions;
        Assert.Equal(Allow, Run(program, X86_64, 135, 0));
        Assert.Equal(Allow, Run(program, X86_64, 135, 8));
        Assert.Equal(Eperm, Run(program, X86_64, 135, 9));
    }

    [Fact]
    public void Each_abi_is_matched_by_its_own_numbers()
    {
        var program = SeccompCompiler.Compile(Profile("SCMP_ACT_ERRNO", Rule("getpid", "SCMP_ACT_ALLOW"))).Instructions;
        Assert.Equal(Allow, Run(program, X86_64, 39));
        Assert.Equal(Allow, Run(program, I386, 20));
        Assert.Equal(Allow, Run(program, X86_64, 39 | X32Bit));
        Assert.Equal(Eperm, Run(program, I386, 39));
        Assert.Equal(Eperm, Run(program, X86_64, 20));
    }

    [Fact]
    public void Unlisted_abis_kill_the_process()
    {
        var seccomp = Profile("SCMP_ACT_ALLOW");
        seccomp.Architectures = ["SCMP_ARCH_X86_64"];
        var program = SeccompCompiler.Compile(seccomp).Instructions;
        Assert.Equal(Allow, Run(program, X86_64, 39));
        Assert.Equal(SeccompCompiler.RetKillProcess, Run(program, X86_64, 39 | X32Bit));
        Assert.Equal(SeccompCompiler.RetKillProcess, Run(program, I386, 20));
        Assert.Equal(SeccompCompiler.RetKillProcess, Run(program, 0xC00000B7 /* aarch64 */, 172));
    }

    [Theory]
    [InlineData("SCMP_ACT_KILL", null, 0u)]
    [InlineData("SCMP_ACT_KILL_PROCESS", null, 0x80000000u)]
    [InlineData("SCMP_ACT_TRAP", null, 0x00030000u)]
    [InlineData("SCMP_ACT_ERRNO", 38u, 0x00050026u)]
    [InlineData("SCMP_ACT_TRACE", 7u, 0x7ff00007u)]
    [InlineData("SCMP_ACT_LOG", null, 0x7ffc0000u)]
    public void Actions_become_their_seccomp_return_values(string action, uint? errno, uint expected)
    {
        var rule = Rule("getpid", action);
        rule.ErrnoRet = errno;
        var program = SeccompCompiler.Compile(Profile("SCMP_ACT_ALLOW", rule)).Instructions;
        Assert.Equal(expected, Run(program, X86_64, 39));
    }

    [Fact]
    public void Default_errno_comes_from_defaultErrnoRet()
    {
        var seccomp = Profile("SCMP_ACT_ERRNO");
        seccomp.DefaultErrnoRet = 95;
        Assert.Equal(SeccompCompiler.RetErrno | 95, Run(SeccompCompiler.Compile(seccomp).Instructions, X86_64, 39));
    }

    [Fact]
    public void Flags_are_passed_to_the_loader()
    {
        var seccomp = Profile("SCMP_ACT_ALLOW");
        seccomp.Flags = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"];
        Assert.Equal(7u, SeccompCompiler.Compile(seccomp).Flags);
    }

    [Theory]
    [InlineData("SCMP_ACT_BOGUS", "SCMP_CMP_EQ", 0u, "SCMP_ARCH_X86_64", "unknown action \"SCMP_ACT_BOGUS\"")]
    [InlineData("SCMP_ACT_ERRNO", "SCMP_CMP_SOMETIMES", 0u, "SCMP_ARCH_X86_64", "unknown operator \"SCMP_CMP_SOMETIMES\"")]
    [InlineData("SCMP_ACT_ERRNO", "SCMP_CMP_EQ", 6u, "SCMP_ARCH_X86_64", "6 is out of range")]
    [InlineData("SCMP_ACT_ERRNO", "SCMP_CMP_EQ", 0u, "SCMP_ARCH_VAX", "unknown architecture \"SCMP_ARCH_VAX\"")]
    [InlineData("SCMP_ACT_NOTIFY", "SCMP_CMP_EQ", 0u, "SCMP_ARCH_X86_64", "SCMP_ACT_NOTIFY is not supported")]
    public void Invalid_profiles_are_refused_with_the_field_and_problem(string action, string op, uint index, string arch, string message)
    {
        var seccomp = Profile("SCMP_ACT_ALLOW", Rule("getpid", action, new LinuxSeccompArg { Index = index, Op = op }));
        seccomp.Architectures = [arch];
        var e = Assert.Throws<RuntimeException>(() => SeccompCompiler.Compile(seccomp));
        Assert.StartsWith("seccomp: linux.seccomp.", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Default_profile_fits_the_kernels_limit_and_follows_the_capabilities()
    {
        var plain = SeccompCompiler.Compile(DefaultSeccompProfile.Create().ToOci(DefaultSpec.DefaultCapabilities.ToList())).Instructions;
        Assert.InRange(plain.Length, 1, 4096);
        const uint mount = 165, unshare = 272, keyctl = 250, clone = 56, clone3 = 435, read = 0, personality = 135;
        Assert.Equal(Allow, Run(plain, X86_64, read));
        Assert.Equal(Eperm, Run(plain, X86_64, mount));
        Assert.Equal(Eperm, Run(plain, X86_64, unshare));
        Assert.Equal(Eperm, Run(plain, X86_64, keyctl));
        Assert.Equal(Allow, Run(plain, X86_64, clone, 0x01200011 /* fork's flags */));
        Assert.Equal(Eperm, Run(plain, X86_64, clone, 0x40000000 /* CLONE_NEWNET */));
        Assert.Equal(SeccompCompiler.RetErrno | 38, Run(plain, X86_64, clone3));
        Assert.Equal(Allow, Run(plain, X86_64, personality, 0xffffffff));
        Assert.Equal(Eperm, Run(plain, X86_64, personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));

        var admin = SeccompCompiler.Compile(DefaultSeccompProfile.Create().ToOci([.. DefaultSpec.DefaultCapabilities, "CAP_SYS_ADMIN"])).Instructions;
        Assert.Equal(Allow, Run(admin, X86_64, mount));
        Assert.Equal(Allow, Run(admin, X86_64, clone, 0x40000000));
        Assert.Equal(Eperm, Run(admin, X86_64, keyctl));
    }

    [Fact]
    public void Docker_profile_json_with_a_syntax_error_is_refused_clearly()
    {
        var e = Assert.Throws<RuntimeException>(() => DockerSeccompProfile.Parse("{\"defaultAction\": "));
        Assert.StartsWith("seccomp profile: invalid JSON", e.Message);
    }
}
