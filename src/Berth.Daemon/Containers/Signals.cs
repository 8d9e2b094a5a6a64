namespace Berth.Daemon.Containers;

/// <summary>Signal names and numbers as Docker accepts them: "SIGTERM", "TERM", "15".</summary>
public static class Signals
{
    static readonly Dictionary<string, int> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["IOT"] = 6, ["BUS"] = 7,
        ["FPE"] = 8, ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14,
        ["TERM"] = 15, ["STKFLT"] = 16, ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20, ["TTIN"] = 21,
        ["TTOU"] = 22, ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27, ["WINCH"] = 28,
        ["IO"] = 29, ["POLL"] = 29, ["PWR"] = 30, ["SYS"] = 31,
    };

    public static int Parse(string signal)
    {
        var s = signal.Trim();
        if (int.TryParse(s, out var n))
            return n is > 0 and <= 64 ? n : throw new ArgumentException($"Invalid signal: {signal}");
        if (s.StartsWith("SIG", StringComparison.OrdinalIgnoreCase)) s = s[3..];
        if (ByName.TryGetValue(s, out n)) return n;
        if (s.StartsWith("RTMIN", StringComparison.OrdinalIgnoreCase))
        {
            var off = s[5..];
            if (off.Length == 0) return 34;
            if (off[0] == '+' && int.TryParse(off[1..], out var k) && 34 + k <= 64) return 34 + k;
        }
        throw new ArgumentException($"Invalid signal: {signal}");
    }
}
