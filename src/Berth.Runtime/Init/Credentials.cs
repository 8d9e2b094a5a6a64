using System.Globalization;
using Berth.Interop;
using Berth.Runtime.Oci;

namespace Berth.Runtime.Init;

/// <summary>
/// Switches init to the spec's user and capabilities. Capability state, keepcaps and no_new_privs
/// belong to the calling thread, so this runs on the thread that will execve; the set*id calls go
/// through glibc, which applies them to every thread.
/// </summary>
static class Credentials
{
    internal static readonly string[] CapabilityNames =
    [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ];

    /// <summary>
    /// A bit mask of the named capabilities. Names the kernel doesn't know, or that this process
    /// can never hold (outside its own bounding set), are left out, so a spec asking for "all" still works.
    /// </summary>
    public static ulong Mask(IEnumerable<string>? names, ulong obtainable)
    {
        ulong mask = 0;
        foreach (var name in names ?? [])
        {
            var bare = name.StartsWith("CAP_", StringComparison.OrdinalIgnoreCase) ? name[4..] : name;
            var index = Array.IndexOf(CapabilityNames, bare.ToUpperInvariant());
            if (index < 0) throw new RuntimeException($"unknown capability \"{name}\"");
            mask |= 1UL << index;
        }
        return mask & obtainable;
    }

    /// <summary>This thread's bounding set, read from /proc/thread-self/status.</summary>
    public static ulong CurrentBoundingSet() =>
        File.ReadLines("/proc/thread-self/status").Where(l => l.StartsWith("CapBnd:", StringComparison.Ordinal))
            .Select(l => ulong.Parse(l[7..].Trim(), NumberStyles.HexNumber)).Single();

    public static void Apply(Oci.Process process)
    {
        var obtainable = CurrentBoundingSet();
        var caps = process.Capabilities;
        var bounding = Mask(caps?.Bounding, obtainable);
        var effective = Mask(caps?.Effective, obtainable);
        var permitted = Mask(caps?.Permitted, obtainable);
        var inheritable = Mask(caps?.Inheritable, obtainable);
        var ambient = Mask(caps?.Ambient, obtainable);

        // Dropping from the bounding set needs CAP_SETPCAP, which setuid to a non-root user would take away.
        for (var cap = 0; cap < 64; cap++)
            if ((obtainable & (1UL << cap)) != 0 && (bounding & (1UL << cap)) == 0)
                LibC.Check(LibC.Prctl(LibC.PR_CAPBSET_DROP, (ulong)cap, 0, 0, 0), "prctl PR_CAPBSET_DROP", "CAP_" + CapabilityNames[cap]);

        LibC.Check(LibC.Prctl(LibC.PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl PR_SET_KEEPCAPS");
        SetUser(process.User);
        LibC.Check(LibC.Prctl(LibC.PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl PR_SET_KEEPCAPS");

        // The kernel requires ambient ⊆ permitted ∩ inheritable.
        Span<LibC.CapData> data =
        [
            new() { Effective = (uint)effective, Permitted = (uint)(permitted | ambient), Inheritable = (uint)(inheritable | ambient) },
            new() { Effective = (uint)(effective >> 32), Permitted = (uint)((permitted | ambient) >> 32), Inheritable = (uint)((inheritable | ambient) >> 32) },
        ];
        LibC.Check(LibC.Capset(new LibC.CapHeader { Version = LibC._LINUX_CAPABILITY_VERSION_3 }, data), "capset");
        LibC.Check(LibC.Prctl(LibC.PR_CAP_AMBIENT, LibC.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl PR_CAP_AMBIENT_CLEAR_ALL");
        for (var cap = 0; cap < 64; cap++)
            if ((ambient & (1UL << cap)) != 0)
                LibC.Check(LibC.Prctl(LibC.PR_CAP_AMBIENT, LibC.PR_CAP_AMBIENT_RAISE, (ulong)cap, 0, 0), "prctl PR_CAP_AMBIENT_RAISE", "CAP_" + CapabilityNames[cap]);

        if (process.NoNewPrivileges) LibC.Check(LibC.Prctl(LibC.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl PR_SET_NO_NEW_PRIVS");
    }

    static void SetUser(User user)
    {
        ReadOnlySpan<uint> groups = user.AdditionalGids is { } extra ? extra.ToArray() : [];
        LibC.Check(LibC.SetGroups(groups.Length, groups), "setgroups");
        LibC.Check(LibC.SetResGid(user.Gid, user.Gid, user.Gid), "setresgid", user.Gid.ToString());
        LibC.Check(LibC.SetResUid(user.Uid, user.Uid, user.Uid), "setresuid", user.Uid.ToString());
    }
}
