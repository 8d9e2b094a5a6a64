using System.Formats.Tar;
using System.Text;
using Berth.Interop;

namespace Berth.Graph.Drivers;

/// <summary>What <c>docker diff</c> reports per path: Kind 0 = C, 1 = A, 2 = D (the API's numbers).</summary>
public enum ChangeKind { Modified = 0, Added = 1, Deleted = 2 }

/// <summary>One changed path in a layer, absolute inside the container (<c>/etc/hosts</c>).</summary>
public sealed record LayerChange(string Path, ChangeKind Kind);

/// <summary>
/// A layer's changes relative to its parent, and the tar that carries them (Docker whiteouts for deletions,
/// <c>.wh..wh..opq</c> for opaque directories). overlay2 reads them off its upper dir; drivers whose layers
/// are full copies (vfs, btrfs) compare the layer with its parent, as moby's naive diff does.
/// </summary>
internal static class LayerChanges
{
    /// <summary>Changes of a full-copy layer <paramref name="dir"/> against its parent's full copy (null: everything is new).</summary>
    public static List<LayerChange> Compare(string dir, string? parentDir)
    {
        var changes = new List<LayerChange>();
        CompareDir(dir, parentDir, "", changes);
        changes.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return changes;
    }

    /// <returns>Whether anything under <paramref name="rel"/> changed.</returns>
    static bool CompareDir(string dir, string? parentDir, string rel, List<LayerChange> changes)
    {
        bool any = false;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFileSystemEntries(dir))
        {
            string name = System.IO.Path.GetFileName(path);
            names.Add(name);
            string childRel = rel + "/" + name;
            var st = LibC.LStat(path);
            string? old = parentDir is null ? null : System.IO.Path.Combine(parentDir, name);
            if (old is null || !LibC.TryLStat(old, out var ost) || ost.FileType != st.FileType)
            {
                changes.Add(new(childRel, ChangeKind.Added));
                if (st.FileType == LibC.S_IFDIR) CompareDir(path, null, childRel, changes);
                any = true;
                continue;
            }
            bool changed = !SameMeta(path, st, old, ost);
            if (st.FileType == LibC.S_IFDIR)
            {
                int at = changes.Count;
                bool inner = CompareDir(path, old, childRel, changes);
                // A directory whose children changed goes into the tar too, so its entry precedes theirs.
                if (changed || inner) changes.Insert(at, new(childRel, ChangeKind.Modified));
                any |= changed || inner;
            }
            else if (changed)
            {
                changes.Add(new(childRel, ChangeKind.Modified));
                any = true;
            }
        }
        if (parentDir is not null)
            foreach (var path in Directory.EnumerateFileSystemEntries(parentDir))
                if (!names.Contains(System.IO.Path.GetFileName(path)))
                {
                    changes.Add(new(rel + "/" + System.IO.Path.GetFileName(path), ChangeKind.Deleted));
                    any = true;
                }
        return any;
    }

    /// <summary>
    /// moby's rules (directories are compared by mode and owner only, everything else also by size and mtime),
    /// plus xattrs: setting one changes neither size nor mtime, and overlay2 would report the copied-up file.
    /// </summary>
    static bool SameMeta(string path, LibC.Statx a, string oldPath, LibC.Statx b)
    {
        if (a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.RdevMajor != b.RdevMajor || a.RdevMinor != b.RdevMinor) return false;
        if (a.FileType != LibC.S_IFDIR && (a.Size != b.Size || a.Mtime.Sec != b.Mtime.Sec || a.Mtime.Nsec != b.Mtime.Nsec)) return false;
        if (a.FileType == LibC.S_IFLNK && new FileInfo(path).LinkTarget != new FileInfo(oldPath).LinkTarget) return false;
        return SameXattrs(path, oldPath);
    }

    static bool SameXattrs(string path, string oldPath)
    {
        var names = FileMeta.ListXattrs(path);
        var oldNames = FileMeta.ListXattrs(oldPath);
        if (names.Count != oldNames.Count || names.Except(oldNames, StringComparer.Ordinal).Any()) return false;
        return names.All(n => FileMeta.GetXattr(path, n).AsSpan().SequenceEqual(FileMeta.GetXattr(oldPath, n)));
    }

    /// <summary>
    /// overlay2's native diff: everything in the upper dir changed. A 0/0 character device is a deletion; a path
    /// any lower dir has is a modification, else an addition.
    /// </summary>
    public static List<LayerChange> FromUpper(string upper, IReadOnlyList<string> lowers)
    {
        var changes = new List<LayerChange>();
        void Walk(string dir, string rel)
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(dir))
            {
                string childRel = rel + "/" + System.IO.Path.GetFileName(path);
                var st = LibC.LStat(path);
                if (IsWhiteout(st)) { changes.Add(new(childRel, ChangeKind.Deleted)); continue; }
                bool inLower = lowers.Any(l => LibC.TryLStat(l + childRel, out _));
                changes.Add(new(childRel, inLower ? ChangeKind.Modified : ChangeKind.Added));
                if (st.FileType == LibC.S_IFDIR)
                {
                    if (inLower && IsOpaque(path))
                        foreach (var l in lowers)
                            if (Directory.Exists(l + childRel))
                                foreach (var gone in Directory.EnumerateFileSystemEntries(l + childRel))
                                {
                                    string goneRel = childRel + "/" + System.IO.Path.GetFileName(gone);
                                    if (!LibC.TryLStat(upper + goneRel, out _) && !changes.Any(c => c.Path == goneRel))
                                        changes.Add(new(goneRel, ChangeKind.Deleted));
                                }
                    Walk(path, childRel);
                }
            }
        }
        Walk(upper, "");
        changes.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return changes;
    }

    internal static bool IsWhiteout(LibC.Statx st) => st.FileType == LibC.S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0;

    internal static bool IsOpaque(string dir) => FileMeta.GetXattr(dir, "trusted.overlay.opaque") is [(byte)'y'];

    /// <summary>
    /// Writes the tar of <paramref name="changes"/>, taking content from <paramref name="source"/> (the layer's own
    /// files: the upper dir, or the full copy). Deletions become <c>.wh.</c> entries; with
    /// <paramref name="overlayUpper"/>, opaque directories get their <c>.wh..wh..opq</c> marker.
    /// </summary>
    public static void WriteTar(Stream output, string source, IEnumerable<LayerChange> changes, bool overlayUpper)
    {
        var patch = new BinaryXattrPatch(output);
        using var w = new TarWriter(patch, TarEntryFormat.Pax, leaveOpen: true);
        var links = new Dictionary<(uint, uint, ulong), string>();
        foreach (var c in changes)
        {
            string rel = c.Path.TrimStart('/');
            if (c.Kind == ChangeKind.Deleted)
            {
                // Below an opaque upper dir a deletion has no whiteout of its own: the dir's marker covers it, and a
                // whiteout inside an opaque dir would show up in directory listings of the layer above.
                if (overlayUpper && !(LibC.TryLStat(source + c.Path, out var wst) && IsWhiteout(wst))) continue;
                int slash = rel.LastIndexOf('/');
                string wh = (slash < 0 ? "" : rel[..(slash + 1)]) + ".wh." + rel[(slash + 1)..];
                w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, wh) { ModificationTime = DateTimeOffset.UnixEpoch, Mode = 0 });
                continue;
            }
            string path = source + "/" + rel;
            var st = LibC.LStat(path);
            WriteEntry(w, patch, path, rel, st, links);
            if (overlayUpper && st.FileType == LibC.S_IFDIR && IsOpaque(path))
                w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, rel + "/.wh..wh..opq") { ModificationTime = DateTimeOffset.UnixEpoch, Mode = 0 });
        }
    }

    /// <summary>The whole tree under <paramref name="root"/> as one tar (<c>docker export</c>).</summary>
    public static void WriteTree(Stream output, string root)
    {
        var patch = new BinaryXattrPatch(output);
        using var w = new TarWriter(patch, TarEntryFormat.Pax, leaveOpen: true);
        var links = new Dictionary<(uint, uint, ulong), string>();
        void Walk(string dir, string rel)
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
            {
                string childRel = rel.Length == 0 ? System.IO.Path.GetFileName(path) : rel + "/" + System.IO.Path.GetFileName(path);
                var st = LibC.LStat(path);
                WriteEntry(w, patch, path, childRel, st, links);
                if (st.FileType == LibC.S_IFDIR) Walk(path, childRel);
            }
        }
        Walk(root, "");
    }

    static void WriteEntry(TarWriter w, BinaryXattrPatch patch, string path, string rel, LibC.Statx st, Dictionary<(uint, uint, ulong), string> links)
    {
        var xattrs = new Dictionary<string, byte[]>();
        foreach (var name in FileMeta.ListXattrs(path))
            if (!name.StartsWith("trusted.overlay.", StringComparison.Ordinal) && FileMeta.GetXattr(path, name) is { } value)
                xattrs[name] = value;
        var type = st.FileType switch
        {
            LibC.S_IFDIR => TarEntryType.Directory,
            LibC.S_IFLNK => TarEntryType.SymbolicLink,
            LibC.S_IFCHR => TarEntryType.CharacterDevice,
            LibC.S_IFBLK => TarEntryType.BlockDevice,
            LibC.S_IFIFO => TarEntryType.Fifo,
            LibC.S_IFREG => TarEntryType.RegularFile,
            _ => (TarEntryType?)null,
        };
        if (type is null) return; // sockets don't belong in a layer
        var key = (st.DevMajor, st.DevMinor, st.Ino);
        if (type == TarEntryType.RegularFile && st.Nlink > 1)
        {
            if (links.ContainsKey(key))
            {
                type = TarEntryType.HardLink;
                xattrs.Clear();
            }
            else links[key] = rel;
        }
        var pax = new Dictionary<string, string>();
        foreach (var (name, value) in xattrs)
            pax["SCHILY.xattr." + name] = IsUtf8(value) ? Encoding.UTF8.GetString(value) : patch.Expect(name, value);
        var e = new PaxTarEntry(type.Value, type == TarEntryType.Directory ? rel + "/" : rel, pax)
        {
            Mode = (UnixFileMode)(st.Mode & 0xfff),
            Uid = (int)st.Uid,
            Gid = (int)st.Gid,
            ModificationTime = st.Mtime.ToDateTimeOffset(),
        };
        switch (type)
        {
            case TarEntryType.HardLink: e.LinkName = links[key]; break;
            case TarEntryType.SymbolicLink: e.LinkName = new FileInfo(path).LinkTarget!; break;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                e.DeviceMajor = (int)st.RdevMajor;
                e.DeviceMinor = (int)st.RdevMinor;
                break;
        }
        if (type == TarEntryType.RegularFile)
        {
            using var data = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
            e.DataStream = data;
            w.WriteEntry(e);
        }
        else w.WriteEntry(e);
        patch.CheckPatched();
    }

    /// <summary>PAX records are UTF-8 text; other values (security.capability) go through <see cref="BinaryXattrPatch"/>.</summary>
    static bool IsUtf8(byte[] value)
    {
        try { new UTF8Encoding(false, true).GetString(value); return true; }
        catch (DecoderFallbackException) { return false; }
    }
}
