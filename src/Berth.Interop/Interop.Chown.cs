using System.Runtime.InteropServices;

namespace Berth.Interop;

public static partial class LibC
{
    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chown(string path, uint owner, uint group);

    /// <summary>The gid of a host group from /etc/group, or null when it does not exist.</summary>
    public static int? GroupId(string name)
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/group"))
            {
                var f = line.Split(':');
                if (f.Length >= 3 && f[0] == name && int.TryParse(f[2], out var gid)) return gid;
            }
        }
        catch (IOException) { }
        return null;
    }
}
