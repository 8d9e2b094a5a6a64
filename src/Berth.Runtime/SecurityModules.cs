namespace Berth.Runtime;

/// <summary>
/// The Linux security modules a spec can ask for: AppArmor profiles and SELinux labels. Berth
/// applies neither yet, so a spec naming one is refused with the reason rather than run without
/// the confinement it asked for: on a host without the module (this project's hosts have
/// neither), and, until Berth writes the labels, on a host with it. Asking for no confinement
/// (an empty value, or AppArmor's "unconfined") is always fine.
/// </summary>
public static class SecurityModules
{
    /// <summary>AppArmor is in the kernel and on (the module parameter that apparmor_parser reads too).</summary>
    public static bool AppArmorEnabled =>
        File.Exists("/sys/module/apparmor/parameters/enabled") && File.ReadAllText("/sys/module/apparmor/parameters/enabled").Trim() == "Y";

    /// <summary>SELinux is on: selinuxfs is mounted where libselinux looks first.</summary>
    public static bool SelinuxEnabled => File.Exists("/sys/fs/selinux/enforce");

    /// <summary>Throws a <see cref="RuntimeException"/> naming the field when the spec asks for a profile or label Berth cannot apply here.</summary>
    public static void Check(Oci.Spec spec)
    {
        CheckAppArmor(spec.Process?.ApparmorProfile, $"process.apparmorProfile \"{spec.Process?.ApparmorProfile}\"");
        CheckSelinux(spec.Process?.SelinuxLabel, $"process.selinuxLabel \"{spec.Process?.SelinuxLabel}\"");
        CheckSelinux(spec.Linux?.MountLabel, $"linux.mountLabel \"{spec.Linux?.MountLabel}\"");
    }

    /// <param name="what">How the caller's user gave the profile, for the message.</param>
    public static void CheckAppArmor(string? profile, string what)
    {
        if (string.IsNullOrEmpty(profile) || profile == "unconfined") return;
        throw new RuntimeException(AppArmorEnabled
            ? $"{what}: Berth does not apply AppArmor profiles yet"
            : $"{what}: AppArmor is not enabled on this host, so the profile cannot be applied");
    }

    /// <param name="what">How the caller's user gave the label, for the message.</param>
    public static void CheckSelinux(string? label, string what)
    {
        if (string.IsNullOrEmpty(label)) return;
        throw new RuntimeException(SelinuxEnabled
            ? $"{what}: Berth does not apply SELinux labels yet"
            : $"{what}: SELinux is not enabled on this host, so the label cannot be applied");
    }
}
