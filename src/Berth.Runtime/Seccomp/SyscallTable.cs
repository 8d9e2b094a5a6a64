namespace Berth.Runtime.Seccomp;

/// <summary>The x86 family's ABIs a filter can match, as the kernel reports them in seccomp_data.arch.</summary>
public enum SeccompArch
{
    X86_64,
    X86,
    X32,
}

/// <summary>Syscall name → number, per ABI.</summary>
static partial class SyscallTable
{
    public const uint AuditArchX86_64 = 0xC000003E, AuditArchI386 = 0x40000003;
    /// <summary>x32 calls arrive with the x86_64 audit arch and this bit set in the number.</summary>
    public const uint X32SyscallBit = 0x40000000;

    static readonly Lazy<Dictionary<string, (int X86_64, int X86, int X32)>> Table = new(() =>
    {
        static int Parse(string s) => s == "-" ? -1 : int.Parse(s);
        var table = new Dictionary<string, (int, int, int)>(StringComparer.Ordinal);
        foreach (var row in Rows.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = row.Split(' ');
            table[f[0]] = (Parse(f[1]), Parse(f[2]), Parse(f[3]));
        }
        return table;
    });

    /// <summary>The number <paramref name="name"/> has on <paramref name="arch"/> (x32: with its bit), or null where the ABI lacks it.</summary>
    public static uint? Number(string name, SeccompArch arch)
    {
        if (!Table.Value.TryGetValue(name, out var n)) return null;
        var nr = arch switch { SeccompArch.X86_64 => n.X86_64, SeccompArch.X86 => n.X86, _ => n.X32 };
        if (nr < 0) return null;
        return arch == SeccompArch.X32 ? (uint)nr | X32SyscallBit : (uint)nr;
    }

    public static bool IsKnown(string name) => Table.Value.ContainsKey(name);

    public static IEnumerable<string> Names => Table.Value.Keys;
}
