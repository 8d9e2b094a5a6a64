using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Runtime.Oci;

namespace Berth.Runtime.Seccomp;

/// <summary>
/// A seccomp profile in Docker's format (what `--security-opt seccomp=FILE` carries): the OCI
/// section plus an arch map and per-rule conditions on the container's capabilities, the
/// architecture and the kernel version, resolved by <see cref="ToOci"/> for one container.
/// </summary>
public sealed class DockerSeccompProfile
{
    public string DefaultAction { get; set; } = "";
    public uint? DefaultErrnoRet { get; set; }
    public List<string>? Architectures { get; set; }
    public List<DockerArchMap>? ArchMap { get; set; }
    public List<string>? Flags { get; set; }
    public string? ListenerPath { get; set; }
    public List<DockerSyscall>? Syscalls { get; set; }

    /// <summary>The Go architecture name Docker matches <c>includes.arches</c> against.</summary>
    const string NativeArch = "amd64";

    public static DockerSeccompProfile Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, DockerSeccompJson.Default.DockerSeccompProfile)
                ?? throw new RuntimeException("seccomp profile: is null");
        }
        catch (JsonException e)
        {
            throw new RuntimeException($"seccomp profile: invalid JSON: {e.Message}", e);
        }
    }

    /// <summary>The OCI seccomp section for a container with <paramref name="capabilities"/> on this host.</summary>
    public LinuxSeccomp ToOci(IReadOnlyCollection<string> capabilities)
    {
        if (string.IsNullOrEmpty(DefaultAction)) throw new RuntimeException("seccomp profile: defaultAction is required");
        if (Architectures is { Count: > 0 } && ArchMap is { Count: > 0 })
            throw new RuntimeException("seccomp profile: use either 'architectures' or 'archMap'");
        var arches = Architectures ?? [];
        if (ArchMap?.FirstOrDefault(m => m.Architecture == "SCMP_ARCH_X86_64") is { } native)
            arches = [native.Architecture, .. native.SubArchitectures ?? []];
        var kernel = KernelVersion();
        var syscalls = new List<LinuxSyscall>();
        for (var i = 0; i < (Syscalls?.Count ?? 0); i++)
        {
            var s = Syscalls![i];
            if (!Applies(s.Includes, capabilities, kernel, include: true) || !Applies(s.Excludes, capabilities, kernel, include: false)) continue;
            var names = s.Names ?? [];
            if (s.Name is { Length: > 0 } single) names = [.. names, single];
            if (names.Count == 0) throw new RuntimeException($"seccomp profile: syscalls[{i}] names no syscall");
            syscalls.Add(new LinuxSyscall { Names = names, Action = s.Action, ErrnoRet = s.ErrnoRet, Args = s.Args });
        }
        return new LinuxSeccomp
        {
            DefaultAction = DefaultAction, DefaultErrnoRet = DefaultErrnoRet, Architectures = arches.Count > 0 ? arches : null,
            Flags = Flags, ListenerPath = ListenerPath, Syscalls = syscalls,
        };
    }

    /// <summary>includes: every condition holds; excludes: none does.</summary>
    static bool Applies(DockerSeccompFilter? f, IReadOnlyCollection<string> caps, Version kernel, bool include)
    {
        if (f is null) return true;
        bool Matches(bool any, bool all) => include ? all : !any;
        if (f.Caps is { Count: > 0 } c && !Matches(c.Any(caps.Contains), c.All(caps.Contains))) return false;
        if (f.Arches is { Count: > 0 } a && !Matches(a.Contains(NativeArch), a.Contains(NativeArch))) return false;
        if (f.MinKernel is { Length: > 0 } min)
        {
            if (!Version.TryParse(min.Split('-')[0], out var v)) throw new RuntimeException($"seccomp profile: invalid minKernel \"{min}\"");
            var atLeast = kernel >= v;
            if (!Matches(atLeast, atLeast)) return false;
        }
        return true;
    }

    static Version KernelVersion()
    {
        var release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var numeric = new string(release.TakeWhile(ch => char.IsDigit(ch) || ch == '.').ToArray()).TrimEnd('.');
        return Version.TryParse(numeric, out var v) ? v : new Version(0, 0);
    }
}

public sealed class DockerArchMap
{
    public string Architecture { get; set; } = "";
    public List<string>? SubArchitectures { get; set; }
}

public sealed class DockerSyscall
{
    /// <summary>The old single-name form, still accepted by Docker.</summary>
    public string? Name { get; set; }
    public List<string>? Names { get; set; }
    public string Action { get; set; } = "";
    public uint? ErrnoRet { get; set; }
    public List<LinuxSeccompArg>? Args { get; set; }
    public DockerSeccompFilter? Includes { get; set; }
    public DockerSeccompFilter? Excludes { get; set; }
}

public sealed class DockerSeccompFilter
{
    public List<string>? Caps { get; set; }
    public List<string>? Arches { get; set; }
    public string? MinKernel { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(DockerSeccompProfile))]
internal sealed partial class DockerSeccompJson : JsonSerializerContext;
