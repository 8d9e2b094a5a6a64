using Berth.Daemon.Engine;
using Berth.Runtime;

namespace Berth.Daemon.Containers;

/// <summary>
/// HostConfig.SecurityOpt read the way dockerd reads it: <c>no-new-privileges[=BOOL]</c>,
/// <c>seccomp=PROFILE</c> (the CLI has already replaced a file name with the file's JSON),
/// <c>apparmor=PROFILE</c>, <c>label=...</c> (SELinux) and <c>disable</c>; "KEY:VALUE" is the old
/// spelling of "KEY=VALUE" that Docker still accepts.
/// </summary>
public sealed class SecurityOptions
{
    public bool NoNewPrivileges { get; private set; }
    public string? Seccomp { get; private set; }
    public string? AppArmor { get; private set; }
    public List<string> Labels { get; } = [];

    /// <summary>Parses the options with dockerd's errors (400).</summary>
    public static SecurityOptions Parse(IEnumerable<string>? options)
    {
        var o = new SecurityOptions();
        foreach (var opt in options ?? [])
        {
            if (opt == "no-new-privileges") { o.NoNewPrivileges = true; continue; }
            if (opt == "disable") { o.Labels.Add("disable"); continue; }
            var sep = opt.Contains('=') ? opt.IndexOf('=') : opt.IndexOf(':');
            if (sep < 0) throw ApiException.BadRequest($"invalid --security-opt 1: \"{opt}\"");
            var (key, value) = (opt[..sep], opt[(sep + 1)..]);
            switch (key)
            {
                case "label": o.Labels.Add(value); break;
                case "apparmor": o.AppArmor = value; break;
                case "seccomp": o.Seccomp = value; break;
                case "no-new-privileges":
                    o.NoNewPrivileges = ParseBool(value) ?? throw ApiException.BadRequest($"invalid --security-opt 2: \"{opt}\"");
                    break;
                default: throw ApiException.BadRequest($"invalid --security-opt 2: \"{opt}\"");
            }
        }
        return o;
    }

    /// <summary>
    /// Refuses, at create, a profile or label this host cannot apply (Berth's runtime applies
    /// neither yet). dockerd on a host without AppArmor or SELinux drops such options without a
    /// word; Berth says so instead of running the container without the confinement it asked for.
    /// </summary>
    public void CheckHostSupport()
    {
        try
        {
            SecurityModules.CheckAppArmor(AppArmor, $"--security-opt apparmor={AppArmor}");
            foreach (var label in Labels.Where(l => l != "disable"))
                SecurityModules.CheckSelinux(label, $"--security-opt label={label}");
        }
        catch (RuntimeException e) { throw ApiException.BadRequest(e.Message); }
    }

    // Go's strconv.ParseBool, which dockerd uses.
    static bool? ParseBool(string s) => s switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => null,
    };
}
