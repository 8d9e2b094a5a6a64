using System.Text.Json;
using Berth.Runtime.Cgroups;
using Berth.Runtime;

namespace Berth.Runc;

// features: runc's description of what the runtime implements (runtime-spec's features.md),
// from the same tables the runtime itself uses where there are such tables.
static partial class Cli
{
    static int Features(Args a)
    {
        a.NoMore();
        using var output = Console.OpenStandardOutput();
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("ociVersionMin", "1.0.0");
        w.WriteString("ociVersionMax", "1.2.0");
        Strings(w, "hooks", RuntimeFeatures.Hooks);
        Strings(w, "mountOptions", RuntimeFeatures.MountOptions);
        w.WriteStartObject("linux");
        Strings(w, "namespaces", RuntimeFeatures.Namespaces);
        Strings(w, "capabilities", RuntimeFeatures.Capabilities);
        w.WriteStartObject("cgroup");
        w.WriteBoolean("v1", true);
        w.WriteBoolean("v2", true);
        w.WriteBoolean("systemd", false);
        w.WriteBoolean("systemdUser", false);
        w.WriteBoolean("rdma", false);
        w.WriteEndObject();
        w.WriteStartObject("seccomp");
        w.WriteBoolean("enabled", true);
        Strings(w, "actions", RuntimeFeatures.SeccompActions);
        Strings(w, "operators", RuntimeFeatures.SeccompOperators);
        Strings(w, "archs", RuntimeFeatures.SeccompArches);
        Strings(w, "knownFlags", RuntimeFeatures.SeccompFlags);
        Strings(w, "supportedFlags", RuntimeFeatures.SeccompFlags);
        w.WriteEndObject();
        w.WriteStartObject("apparmor");
        w.WriteBoolean("enabled", false);
        w.WriteEndObject();
        w.WriteStartObject("selinux");
        w.WriteBoolean("enabled", false);
        w.WriteEndObject();
        w.WriteStartObject("intelRdt");
        w.WriteBoolean("enabled", false);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject("annotations");
        w.WriteString("io.github.berth.runc.version", Version);
        w.WriteString("io.github.berth.runc.cgroupDriver", CgroupManager.IsUnified(CgroupManager.DefaultRoot) ? "cgroupfs (v2)" : "cgroupfs (v1)");
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
        output.WriteByte((byte)'\n');
        return 0;
    }

    static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
