using System.Formats.Tar;
using System.Text;
using Berth.Interop;

namespace Berth.Graph.Drivers;

/// <summary>How a layer tar's whiteouts (<c>.wh.name</c>, <c>.wh..wh..opq</c>) land on disk.</summary>
internal enum WhiteoutMode
{
    /// <summary>overlayfs form: a 0/0 character device for a deleted path, <c>trusted.overlay.opaque=y</c> on an opaque dir.</summary>
    Overlay,
    /// <summary>The layer dir already holds the parent's full copy (vfs): delete what the whiteouts name.</summary>
    Delete,
}

/// <summary>
/// Extracts an uncompressed layer tar into a layer directory. Every entry's path is cleaned lexically and
/// must stay inside the layer; every existing parent component is checked with lstat and must be a real
/// directory, so nothing is ever written through a symlink; symlinks and hard links whose targets climb out
/// of the layer are refused. A refusal is an <see cref="InvalidDataException"/>; the caller discards the layer.
/// </summary>
internal static class LayerTar
{
    const string WhiteoutPrefix = ".wh.";
    const string OpaqueMarker = ".wh..wh..opq";
    const string XattrPaxPrefix = "SCHILY.xattr.";

    /// <returns>Bytes of file content written.</returns>
    public static long Apply(string layerDir, Stream tar, WhiteoutMode whiteouts)
    {
        long size = 0;
        var dirTimes = new List<(string Path, DateTimeOffset Atime, DateTimeOffset Mtime)>();
        var unpacked = new HashSet<string>(StringComparer.Ordinal);
        var dirs = new KnownDirs();
        var copyBuffer = new byte[1 << 16];
        var tap = new PaxXattrTap(tar);
        using var reader = new TarReader(tap, leaveOpen: true);
        while (reader.GetNextEntry() is { } entry)
        {
            var parts = CleanPath(entry.Name, entry.Name);
            if (parts.Count == 0)
            {
                if (entry.EntryType == TarEntryType.Directory)
                    ApplyMeta(layerDir, entry, tap.Take(entry.Name), dirTimes);
                continue;
            }
            string baseName = parts[^1];
            string parent = EnsureParents(layerDir, parts, entry.Name, dirs);

            if (baseName == OpaqueMarker)
            {
                if (whiteouts == WhiteoutMode.Overlay)
                {
                    FileMeta.SetXattr(parent, "trusted.overlay.opaque", "y"u8);
                    // The marker hides the lowers already; whiteouts left beside it would be listed by overlayfs.
                    foreach (var child in Directory.EnumerateFileSystemEntries(parent))
                        if (LayerChanges.IsWhiteout(LibC.LStat(child))) File.Delete(child);
                }
                else
                {
                    string parentRel = string.Join('/', parts.Take(parts.Count - 1));
                    foreach (var child in Directory.EnumerateFileSystemEntries(parent))
                        if (!unpacked.Contains(Join(parentRel, System.IO.Path.GetFileName(child))))
                            dirs.Remove(child);
                }
                continue;
            }
            if (baseName.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
            {
                string victim = baseName[WhiteoutPrefix.Length..];
                if (victim is "" or "." or "..")
                    throw new InvalidDataException($"invalid whiteout entry {entry.Name} in layer tar");
                string victimPath = System.IO.Path.Combine(parent, victim);
                dirs.Remove(victimPath);
                if (whiteouts == WhiteoutMode.Overlay && !LayerChanges.IsOpaque(parent))
                {
                    FileMeta.MakeNode(victimPath, LibC.S_IFCHR, 0, 0);
                    FileMeta.Chown(victimPath, entry.Uid, entry.Gid);
                }
                continue;
            }

            string target = System.IO.Path.Combine(parent, baseName);
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile)
            {
                // The hot path (most entries): one open, the data, then metadata through the fd, no further path walks.
                WriteFile(target, entry, tap.Take(entry.Name), copyBuffer, dirs);
                size += entry.Length;
                if (whiteouts == WhiteoutMode.Delete) MarkUnpacked(unpacked, parts);
                continue;
            }
            bool keepExistingDir = entry.EntryType == TarEntryType.Directory && FileMeta.IsDirectory(target);
            if (!keepExistingDir) dirs.Remove(target);

            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (!keepExistingDir) Directory.CreateDirectory(target);
                    dirs.Add(target);
                    break;
                case TarEntryType.SymbolicLink:
                    CheckSymlinkTarget(parts, entry.LinkName, entry.Name);
                    File.CreateSymbolicLink(target, entry.LinkName);
                    break;
                case TarEntryType.HardLink:
                    FileMeta.Link(ResolveHardlinkSource(layerDir, entry.LinkName, entry.Name), target);
                    tap.Take(entry.Name);
                    if (whiteouts == WhiteoutMode.Delete) MarkUnpacked(unpacked, parts);
                    continue; // a hard link shares its source's metadata; setting it again would alter the source
                case TarEntryType.CharacterDevice:
                    FileMeta.MakeNode(target, LibC.S_IFCHR | (uint)entry.Mode, Major(entry), Minor(entry));
                    break;
                case TarEntryType.BlockDevice:
                    FileMeta.MakeNode(target, LibC.S_IFBLK | (uint)entry.Mode, Major(entry), Minor(entry));
                    break;
                case TarEntryType.Fifo:
                    FileMeta.MakeNode(target, LibC.S_IFIFO | (uint)entry.Mode, 0, 0);
                    break;
                default:
                    throw new InvalidDataException($"unsupported tar entry type {entry.EntryType} for {entry.Name}");
            }
            ApplyMeta(target, entry, tap.Take(entry.Name), dirTimes);
            if (whiteouts == WhiteoutMode.Delete) MarkUnpacked(unpacked, parts);
        }
        // Children change their directory's mtime, so directories get theirs last, deepest first.
        for (int i = dirTimes.Count - 1; i >= 0; i--)
            FileMeta.SetTimes(dirTimes[i].Path, dirTimes[i].Atime, dirTimes[i].Mtime);
        return size;
    }

    /// <summary>
    /// Creates a regular file exclusively (never through a symlink) and sets its metadata through the open fd.
    /// Whatever already sits at the path (an earlier entry of the same name, a lower layer's copy in vfs) is
    /// removed only when the create finds it, which saves a lookup for the usual new file.
    /// </summary>
    static void WriteFile(string target, TarEntry entry, Dictionary<string, byte[]>? rawXattrs, byte[] buffer, KnownDirs dirs)
    {
        const int flags = LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW | LibC.O_CLOEXEC;
        int fd = LibC.Open(target, flags, 0x180);
        if (fd < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Errno.EEXIST)
        {
            dirs.Remove(target);
            fd = LibC.Open(target, flags, 0x180);
        }
        LibC.Check(fd, "open", target);
        using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        if (entry.DataStream is { } data)
        {
            long offset = 0;
            int n;
            while ((n = data.Read(buffer)) > 0)
            {
                RandomAccess.Write(handle, buffer.AsSpan(0, n), offset);
                offset += n;
            }
        }
        ApplyMeta(target, entry, rawXattrs, dirTimes: null, fd);
    }

    /// <summary>Owner, mode, xattrs and times; through <paramref name="fd"/> when the caller has the file open.</summary>
    static void ApplyMeta(string path, TarEntry entry, Dictionary<string, byte[]>? rawXattrs,
        List<(string, DateTimeOffset, DateTimeOffset)>? dirTimes, int fd = -1)
    {
        if (fd >= 0)
        {
            LibC.Check(LibC.Fchown(fd, entry.Uid, entry.Gid), "fchown", path);
            LibC.Check(LibC.Fchmod(fd, (uint)entry.Mode & 0xfff), "fchmod", path);
        }
        else
        {
            FileMeta.Chown(path, entry.Uid, entry.Gid);
            if (entry.EntryType != TarEntryType.SymbolicLink) FileMeta.Chmod(path, (uint)entry.Mode);
        }
        var atime = entry.ModificationTime;
        if (entry is PaxTarEntry pax)
        {
            foreach (var (key, text) in pax.ExtendedAttributes)
            {
                if (!key.StartsWith(XattrPaxPrefix, StringComparison.Ordinal)) continue;
                string name = key[XattrPaxPrefix.Length..];
                // A layer must not steer overlayfs (redirects, opaque flags) through crafted xattrs.
                if (name.StartsWith("trusted.overlay.", StringComparison.Ordinal)) continue;
                if (rawXattrs is not null && rawXattrs.TryGetValue(name, out var raw))
                    FileMeta.SetXattr(path, name, raw);
                else if (!text.Contains('\uFFFD')) // a mangled binary value is worse than none
                    FileMeta.SetXattr(path, name, Encoding.UTF8.GetBytes(text));
            }
            if (pax.ExtendedAttributes.TryGetValue("atime", out var at) && ParsePaxTime(at) is { } a) atime = a;
        }
        else if (entry is GnuTarEntry gnu && gnu.AccessTime != default)
            atime = gnu.AccessTime;
        if (entry.EntryType == TarEntryType.Directory) dirTimes!.Add((path, atime, entry.ModificationTime));
        else if (fd >= 0)
            LibC.Check(LibC.Futimens(fd, [LibC.Timespec.From(atime), LibC.Timespec.From(entry.ModificationTime)]), "futimens", path);
        else FileMeta.SetTimes(path, atime, entry.ModificationTime);
    }

    /// <summary>
    /// Splits <paramref name="name"/> into clean components relative to the layer root. A leading <c>/</c>
    /// means the layer root; a <c>..</c> that would climb above it is refused.
    /// </summary>
    static List<string> CleanPath(string name, string entryName)
    {
        var parts = new List<string>();
        foreach (var p in name.Split('/'))
        {
            if (p is "" or ".") continue;
            if (p == "..")
            {
                if (parts.Count == 0)
                    throw new InvalidDataException($"refusing to extract {entryName}: the path escapes the layer root");
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            if (p.Contains('\0')) throw new InvalidDataException($"refusing to extract {entryName}: NUL in path");
            parts.Add(p);
        }
        return parts;
    }

    /// <summary>
    /// Walks the parent components, creating missing ones, refusing symlinks and non-directories. Components
    /// already checked (or made) by this extraction are not looked at again.
    /// </summary>
    static string EnsureParents(string layerDir, List<string> parts, string entryName, KnownDirs dirs)
    {
        string dir = layerDir;
        for (int i = 0; i < parts.Count - 1; i++)
        {
            dir = System.IO.Path.Combine(dir, parts[i]);
            if (dirs.Contains(dir)) continue;
            if (!LibC.TryLStat(dir, out var st))
            {
                Directory.CreateDirectory(dir);
                dirs.Add(dir);
                continue;
            }
            if (st.FileType == LibC.S_IFLNK)
                throw new InvalidDataException(
                    $"refusing to extract {entryName}: its parent {string.Join('/', parts.Take(i + 1))} is a symlink (writing through symlinks is not allowed)");
            if (st.FileType != LibC.S_IFDIR)
                throw new InvalidDataException(
                    $"refusing to extract {entryName}: its parent {string.Join('/', parts.Take(i + 1))} is not a directory");
            dirs.Add(dir);
        }
        return dir;
    }

    /// <summary>
    /// The real directories (not symlinks) this extraction has seen in the layer. Everything the extraction
    /// removes goes through <see cref="Remove"/>, which forgets the path and all below it, so an entry that
    /// replaces a directory with a symlink is still caught by the parent check.
    /// </summary>
    sealed class KnownDirs
    {
        readonly HashSet<string> _dirs = new(StringComparer.Ordinal);

        public bool Contains(string path) => _dirs.Contains(path);

        public void Add(string path) => _dirs.Add(path);

        public void Remove(string path)
        {
            if (_dirs.Remove(path))
            {
                string below = path + "/";
                _dirs.RemoveWhere(d => d.StartsWith(below, StringComparison.Ordinal));
            }
            FileMeta.RemoveAll(path);
        }
    }

    /// <summary>
    /// Absolute targets are resolved inside the container's root at run time, so they are fine; a relative
    /// target that climbs above the layer root from the link's directory can only be an escape attempt.
    /// </summary>
    static void CheckSymlinkTarget(List<string> linkParts, string linkTarget, string entryName)
    {
        if (linkTarget.StartsWith('/')) return;
        int depth = linkParts.Count - 1;
        foreach (var p in linkTarget.Split('/'))
        {
            if (p == "..") depth--;
            else if (p is not ("" or ".")) depth++;
            if (depth < 0)
                throw new InvalidDataException($"refusing to extract symlink {entryName} -> {linkTarget}: the target escapes the layer root");
        }
    }

    static string ResolveHardlinkSource(string layerDir, string linkName, string entryName)
    {
        List<string> parts;
        try { parts = CleanPath(linkName, entryName); }
        catch (InvalidDataException)
        {
            throw new InvalidDataException($"refusing to extract hard link {entryName} -> {linkName}: the target escapes the layer root");
        }
        if (parts.Count == 0)
            throw new InvalidDataException($"refusing to extract hard link {entryName} -> {linkName}: the target is the layer root");
        string path = layerDir;
        for (int i = 0; i < parts.Count; i++)
        {
            path = System.IO.Path.Combine(path, parts[i]);
            if (!LibC.TryLStat(path, out var st))
                throw new InvalidDataException($"refusing to extract hard link {entryName} -> {linkName}: the target is not in this layer");
            bool last = i == parts.Count - 1;
            if (!last && st.FileType != LibC.S_IFDIR)
                throw new InvalidDataException(
                    $"refusing to extract hard link {entryName} -> {linkName}: {string.Join('/', parts.Take(i + 1))} is a symlink or not a directory");
            if (last && st.FileType == LibC.S_IFDIR)
                throw new InvalidDataException($"refusing to extract hard link {entryName} -> {linkName}: the target is a directory");
        }
        return path;
    }

    /// <summary>
    /// Records an entry and its parents as coming from this layer, so a later opaque marker in a parent
    /// (vfs) deletes only what lower layers put there.
    /// </summary>
    static void MarkUnpacked(HashSet<string> unpacked, List<string> parts)
    {
        for (int i = 1; i <= parts.Count; i++) unpacked.Add(string.Join('/', parts.Take(i)));
    }

    static uint Major(TarEntry e) => e is PosixTarEntry p ? (uint)p.DeviceMajor : 0;
    static uint Minor(TarEntry e) => e is PosixTarEntry p ? (uint)p.DeviceMinor : 0;

    /// <summary>PAX times are decimal seconds since the epoch, e.g. <c>1714557600.123456789</c>.</summary>
    static DateTimeOffset? ParsePaxTime(string s) =>
        decimal.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var secs)
            ? DateTimeOffset.UnixEpoch.AddTicks((long)(secs * TimeSpan.TicksPerSecond))
            : null;

    static string Join(string a, string b) => a.Length == 0 ? b : a + "/" + b;
}
