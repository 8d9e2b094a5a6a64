using Berth.Runtime.Init;
using Berth.Runtime.Oci;
using Berth.Runtime.Seccomp;

namespace Berth.Runtime;

/// <summary>What this runtime implements, read from the tables the runtime itself uses (for runc's `features` command).</summary>
public static class RuntimeFeatures
{
    public static IEnumerable<string> Hooks => ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
    public static IEnumerable<string> MountOptions => Init.MountOptions.Known.Order(StringComparer.Ordinal);
    public static IEnumerable<string> Namespaces => LinuxNamespace.Flags.Keys.Order(StringComparer.Ordinal);
    public static IEnumerable<string> Capabilities => Credentials.CapabilityNames.Select(c => "CAP_" + c);
    public static IEnumerable<string> SeccompActions => SeccompCompiler.SupportedActions;
    public static IEnumerable<string> SeccompOperators => SeccompCompiler.Ops;
    public static IEnumerable<string> SeccompArches => SeccompCompiler.KnownArches;
    public static IEnumerable<string> SeccompFlags => SeccompCompiler.SupportedFlags;
}
