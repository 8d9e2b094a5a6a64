using Berth.Interop;

namespace Berth.Graph.Drivers;

/// <summary>
/// Copies a directory tree exactly: modes, owners, times, symlinks, hard links (kept as links within the
/// copy), xattrs, device nodes and fifos. The vfs driver's way of stacking a layer on its parent.
/// </summary>
internal static class TreeCopier
{
    public static void Copy(string src, string dst)
    {
        var links = new Dictionary<(uint, uint, ulong), string>();
        var dirs = new List<(string Dst, LibC.Statx St)>();
        if (!Directory.Exists(dst)) Directory.CreateDirectory(dst);
        var rootSt = LibC.LStat(src);
        CopyChildren(src, dst, links, dirs);
        ApplyMeta(src, dst, rootSt, setTimes: false);
        dirs.Add((dst, rootSt));
        foreach (var (path, st) in dirs)
            FileMeta.SetTimes(path, st.Atime.ToDateTimeOffset(), st.Mtime.ToDateTimeOffset());
    }

    static void CopyChildren(string srcDir, string dstDir, Dictionary<(uint, uint, ulong), string> links,
        List<(string, LibC.Statx)> dirs)
    {
        foreach (var src in Directory.EnumerateFileSystemEntries(srcDir))
        {
            string dst = Path.Combine(dstDir, Path.GetFileName(src));
            var st = LibC.LStat(src);
            switch (st.FileType)
            {
                case LibC.S_IFDIR:
                    Directory.CreateDirectory(dst);
                    CopyChildren(src, dst, links, dirs);
                    ApplyMeta(src, dst, st, setTimes: false);
                    dirs.Add((dst, st));
                    continue;
                case LibC.S_IFREG:
                    var key = (st.DevMajor, st.DevMinor, st.Ino);
                    if (st.Nlink > 1 && links.TryGetValue(key, out var first))
                    {
                        FileMeta.Link(first, dst);
                        continue;
                    }
                    File.Copy(src, dst);
                    if (st.Nlink > 1) links[key] = dst;
                    break;
                case LibC.S_IFLNK:
                    File.CreateSymbolicLink(dst, new FileInfo(src).LinkTarget!);
                    break;
                default:
                    FileMeta.MakeNode(dst, st.Mode, st.RdevMajor, st.RdevMinor);
                    break;
            }
            ApplyMeta(src, dst, st, setTimes: true);
        }
    }

    static void ApplyMeta(string src, string dst, LibC.Statx st, bool setTimes)
    {
        FileMeta.Chown(dst, (int)st.Uid, (int)st.Gid);
        if (st.FileType != LibC.S_IFLNK) FileMeta.Chmod(dst, st.Mode);
        foreach (var name in FileMeta.ListXattrs(src))
            if (FileMeta.GetXattr(src, name) is { } value) FileMeta.SetXattr(dst, name, value);
        if (setTimes) FileMeta.SetTimes(dst, st.Atime.ToDateTimeOffset(), st.Mtime.ToDateTimeOffset());
    }
}
