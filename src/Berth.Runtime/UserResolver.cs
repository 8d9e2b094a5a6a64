using Berth.Runtime.Init;

namespace Berth.Runtime;

/// <summary>The numeric identity a container process runs as, and its home directory.</summary>
public sealed record ResolvedUser(uint Uid, uint Gid, IReadOnlyList<uint> AdditionalGids, string Home);

/// <summary>
/// Turns Docker's <c>--user</c> (<c>name</c>, <c>uid</c>, <c>name:group</c>, <c>uid:gid</c>) into numbers,
/// using the image's own /etc/passwd and /etc/group as Docker does; numeric ids need no entry.
/// berthd resolves a container's user with it at start, berth-runc an exec's <c>--user NAME</c>.
/// </summary>
public static class UserResolver
{
    sealed record PasswdEntry(string Name, uint Uid, uint Gid, string Home);
    sealed record GroupEntry(string Name, uint Gid, string[] Members);

    public static ResolvedUser Resolve(string rootfs, string? user, IEnumerable<string>? groupAdd = null)
    {
        user = string.IsNullOrEmpty(user) ? "0" : user;
        var parts = user.Split(':', 2);
        string userPart = parts[0], groupPart = parts.Length > 1 ? parts[1] : "";
        var passwd = ReadPasswd(rootfs);
        var groups = ReadGroups(rootfs);

        PasswdEntry? entry;
        if (uint.TryParse(userPart, out var uid))
            entry = passwd.FirstOrDefault(p => p.Uid == uid) ?? new PasswdEntry("", uid, 0, "/");
        else
            entry = passwd.FirstOrDefault(p => p.Name == userPart)
                ?? throw new ArgumentException($"unable to find user {userPart}: no matching entries in passwd file");

        uint gid = entry.Gid;
        if (groupPart.Length > 0)
        {
            if (!uint.TryParse(groupPart, out gid))
                gid = (groups.FirstOrDefault(g => g.Name == groupPart)
                    ?? throw new ArgumentException($"unable to find group {groupPart}: no matching entries in group file")).Gid;
        }

        var extra = new List<uint>();
        if (entry.Name.Length > 0)
            foreach (var g in groups)
                if (g.Members.Contains(entry.Name) && g.Gid != gid && !extra.Contains(g.Gid)) extra.Add(g.Gid);
        foreach (var add in groupAdd ?? Array.Empty<string>())
        {
            uint g = uint.TryParse(add, out var n) ? n
                : (groups.FirstOrDefault(x => x.Name == add) ?? throw new ArgumentException($"unable to find group {add}: no matching entries in group file")).Gid;
            if (!extra.Contains(g)) extra.Add(g);
        }
        return new ResolvedUser(entry.Uid, gid, extra, string.IsNullOrEmpty(entry.Home) ? "/" : entry.Home);
    }

    static IEnumerable<string[]> ReadColonFile(string rootfs, string path)
    {
        string file;
        try { file = PathResolver.SecureJoin(rootfs, path); }
        catch (RuntimeException) { yield break; }
        if (!File.Exists(file)) yield break;
        // Bound what a hostile image can make the daemon read.
        using var stream = File.OpenRead(file);
        using var reader = new StreamReader(new BoundedStream(stream, 4 << 20));
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            yield return line.Split(':');
        }
    }

    static List<PasswdEntry> ReadPasswd(string rootfs) =>
        ReadColonFile(rootfs, "/etc/passwd")
            .Where(f => f.Length >= 6 && uint.TryParse(f[2], out _) && uint.TryParse(f[3], out _))
            .Select(f => new PasswdEntry(f[0], uint.Parse(f[2]), uint.Parse(f[3]), f[5]))
            .ToList();

    static List<GroupEntry> ReadGroups(string rootfs) =>
        ReadColonFile(rootfs, "/etc/group")
            .Where(f => f.Length >= 3 && uint.TryParse(f[2], out _))
            .Select(f => new GroupEntry(f[0], uint.Parse(f[2]), f.Length > 3 ? f[3].Split(',', StringSplitOptions.RemoveEmptyEntries) : Array.Empty<string>()))
            .ToList();

    sealed class BoundedStream(Stream inner, long limit) : Stream
    {
        long _left = limit;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_left <= 0) return 0;
            int n = inner.Read(buffer, offset, (int)Math.Min(count, _left));
            _left -= n;
            return n;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
