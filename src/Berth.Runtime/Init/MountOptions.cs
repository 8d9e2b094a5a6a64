using Berth.Interop;

namespace Berth.Runtime.Init;

/// <summary>A spec mount's option list split into mount(2) flags, propagation flags and filesystem data.</summary>
readonly record struct MountOptions(ulong Flags, ulong Propagation, string? Data, bool Bind)
{
    const ulong MS_SYNCHRONOUS = 0x10, MS_DIRSYNC = 0x80, MS_NOATIME = 0x400, MS_NODIRATIME = 0x800,
        MS_UNBINDABLE = 0x20000, MS_SHARED = 0x100000, MS_RELATIME = 0x200000, MS_STRICTATIME = 0x1000000;

    // (set, clear) per option; "clear" undoes a default such as "rw" against "ro".
    static readonly Dictionary<string, (ulong Set, ulong Clear)> FlagOptions = new()
    {
        ["ro"] = (LibC.MS_RDONLY, 0), ["rw"] = (0, LibC.MS_RDONLY),
        ["nosuid"] = (LibC.MS_NOSUID, 0), ["suid"] = (0, LibC.MS_NOSUID),
        ["nodev"] = (LibC.MS_NODEV, 0), ["dev"] = (0, LibC.MS_NODEV),
        ["noexec"] = (LibC.MS_NOEXEC, 0), ["exec"] = (0, LibC.MS_NOEXEC),
        ["sync"] = (MS_SYNCHRONOUS, 0), ["async"] = (0, MS_SYNCHRONOUS), ["dirsync"] = (MS_DIRSYNC, 0),
        ["noatime"] = (MS_NOATIME, 0), ["atime"] = (0, MS_NOATIME),
        ["nodiratime"] = (MS_NODIRATIME, 0), ["diratime"] = (0, MS_NODIRATIME),
        ["relatime"] = (MS_RELATIME, 0), ["norelatime"] = (0, MS_RELATIME),
        ["strictatime"] = (MS_STRICTATIME, 0), ["nostrictatime"] = (0, MS_STRICTATIME),
        ["remount"] = (LibC.MS_REMOUNT, 0), ["defaults"] = (0, 0),
    };

    static readonly Dictionary<string, ulong> PropagationOptions = new()
    {
        ["private"] = LibC.MS_PRIVATE, ["rprivate"] = LibC.MS_PRIVATE | LibC.MS_REC,
        ["slave"] = LibC.MS_SLAVE, ["rslave"] = LibC.MS_SLAVE | LibC.MS_REC,
        ["shared"] = MS_SHARED, ["rshared"] = MS_SHARED | LibC.MS_REC,
        ["unbindable"] = MS_UNBINDABLE, ["runbindable"] = MS_UNBINDABLE | LibC.MS_REC,
    };

    public static MountOptions Parse(IEnumerable<string>? options, string? type)
    {
        ulong flags = 0, propagation = 0;
        var bind = type == "bind";
        var data = new List<string>();
        foreach (var option in options ?? [])
        {
            if (option is "bind" or "rbind")
            {
                bind = true;
                if (option == "rbind") flags |= LibC.MS_REC;
            }
            else if (FlagOptions.TryGetValue(option, out var f)) flags = (flags | f.Set) & ~f.Clear;
            else if (PropagationOptions.TryGetValue(option, out var p)) propagation |= p;
            else data.Add(option);
        }
        return new MountOptions(flags, propagation, data.Count == 0 ? null : string.Join(',', data), bind);
    }

    internal static IEnumerable<string> Known => ["bind", "rbind", .. FlagOptions.Keys, .. PropagationOptions.Keys];

    /// <summary>Propagation for <c>linux.rootfsPropagation</c>; runc's default is rslave.</summary>
    public static ulong RootPropagation(string? name) =>
        string.IsNullOrEmpty(name) ? LibC.MS_SLAVE | LibC.MS_REC
        : PropagationOptions.TryGetValue(name, out var p) ? p
        : throw new RuntimeException($"linux.rootfsPropagation: unknown value \"{name}\"");
}
