using System.Globalization;
using System.Text.Json;
using Berth.Interop;
using Berth.Runtime.Oci;

// The conformance probe: run as a container's process, it writes one JSON object to stdout with
// what the process sees of its environment. It judges nothing; the suite compares the report with
// the spec it gave the runtime. Arguments are paths to describe (masked and read-only paths,
// sysctls, cgroup files). See docs/runtime.md, "Conformance suite".

// Before anything else opens a file: the fds the runtime handed over.
var fds = OpenFds();

using var stdout = Console.OpenStandardOutput();
using var json = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true });
json.WriteStartObject();

json.WriteStartObject("fds");
foreach (var (fd, target) in fds) json.WriteString(fd.ToString(CultureInfo.InvariantCulture), target);
json.WriteEndObject();

json.WriteStartObject("namespaces");
foreach (var ns in new[] { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" })
    json.WriteString(ns, new FileInfo("/proc/self/ns/" + ns).LinkTarget ?? "");
json.WriteEndObject();

// Credentials, capabilities, seccomp, no_new_privs and umask, as the kernel reports them.
var status = File.ReadAllLines("/proc/self/status").Select(l => l.Split(':', 2)).Where(f => f.Length == 2)
    .ToDictionary(f => f[0], f => f[1].Trim());
json.WriteStartObject("status");
foreach (var key in new[] { "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Umask" })
    json.WriteString(key, status.GetValueOrDefault(key, ""));
json.WriteEndObject();

json.WriteStartArray("mounts");
foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
{
    // id parent major:minor root mount-point options [optional fields...] - type source super-options
    var halves = line.Split(" - ", 2);
    var left = halves[0].Split(' ');
    var right = halves[1].Split(' ');
    json.WriteStartObject();
    json.WriteString("mountPoint", Unescape(left[4]));
    json.WriteString("type", right[0]);
    WriteList("options", left[5].Split(','));
    WriteList("propagation", left[6..]);
    WriteList("superOptions", right.Length > 2 ? right[2].Split(',') : []);
    json.WriteEndObject();
}
json.WriteEndArray();

json.WriteStartObject("rlimits");
foreach (var (name, resource) in Rlimit.Resources)
{
    LibC.Check(LibC.GetRlimit(resource, out var limit), "getrlimit", name);
    json.WriteStartObject(name);
    json.WriteNumber("soft", limit.Current);
    json.WriteNumber("hard", limit.Max);
    json.WriteEndObject();
}
json.WriteEndObject();

json.WriteString("hostname", File.ReadAllText("/proc/sys/kernel/hostname").TrimEnd('\n'));
json.WriteString("domainname", File.ReadAllText("/proc/sys/kernel/domainname").TrimEnd('\n'));
json.WriteString("cwd", LibC.GetCwd());
WriteList("env", Environment.GetEnvironmentVariables().Keys.Cast<string>().Order(StringComparer.Ordinal)
    .Select(k => $"{k}={Environment.GetEnvironmentVariable(k)}"));

// Whether the process may create a directory in its root: 0, or the errno (EROFS for a read-only
// rootfs, the profile's errno when seccomp refuses mkdir).
const string scratch = "/.berth-probe-mkdir";
var mkdirErrno = LibC.Mkdir(scratch, 0x1c0) == 0 ? 0 : System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
if (mkdirErrno == 0) LibC.Rmdir(scratch);
json.WriteNumber("mkdirErrno", mkdirErrno);

json.WriteStartObject("paths");
foreach (var path in args) DescribePath(path);
json.WriteEndObject();

json.WriteEndObject();
json.Flush();
stdout.WriteByte((byte)'\n');
return 0;

void WriteList(string name, IEnumerable<string> items)
{
    json.WriteStartArray(name);
    foreach (var item in items) json.WriteStringValue(item);
    json.WriteEndArray();
}

// kind (file, dir, char, other, missing), whether its mount is read-only, and what reading it gives.
void DescribePath(string path)
{
    json.WriteStartObject(path);
    if (LibC.StatxCall(LibC.AT_FDCWD, path, 0, LibC.STATX_BASIC_STATS, out var st) != 0)
    {
        json.WriteString("kind", "missing");
        json.WriteEndObject();
        return;
    }
    var kind = st.FileType switch { LibC.S_IFREG => "file", LibC.S_IFDIR => "dir", LibC.S_IFCHR => "char", _ => "other" };
    json.WriteString("kind", kind);
    if (LibC.Statfs(path, out var fs) == 0) json.WriteBoolean("readOnly", (fs.Flags & LibC.ST_RDONLY) != 0);
    try
    {
        if (kind == "dir") json.WriteNumber("entries", Directory.EnumerateFileSystemEntries(path).Count());
        else if (kind is "file" or "char")
        {
            using var file = File.OpenRead(path);
            var buffer = new byte[4096];
            var n = file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            json.WriteString("content", System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        }
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        json.WriteString("error", e.Message);
    }
    json.WriteEndObject();
}

// fd number → link target, leaving out the directory opened to list them.
static SortedDictionary<int, string> OpenFds()
{
    var fds = new SortedDictionary<int, string>();
    foreach (var entry in new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos())
        if (int.TryParse(entry.Name, out var fd) && entry.LinkTarget is { } target) fds[fd] = target;
    var listing = fds.Where(f => f.Value.StartsWith("/proc/", StringComparison.Ordinal) && f.Value.EndsWith("/fd", StringComparison.Ordinal)).Select(f => f.Key).ToList();
    foreach (var fd in listing) fds.Remove(fd);
    return fds;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
static string Unescape(string field)
{
    var sb = new System.Text.StringBuilder(field.Length);
    for (var i = 0; i < field.Length; i++)
    {
        if (field[i] == '\\' && i + 3 < field.Length && field[(i + 1)..(i + 4)].All(c => c is >= '0' and <= '7'))
        {
            sb.Append((char)Convert.ToInt32(field[(i + 1)..(i + 4)], 8));
            i += 3;
        }
        else sb.Append(field[i]);
    }
    return sb.ToString();
}
