namespace Berth.Graph.Drivers;

/// <summary>The one place drivers are registered (explicitly, so trimming and NativeAOT see them).</summary>
public static class GraphDrivers
{
    public static IReadOnlyList<string> Names { get; } = ["overlay2", "btrfs", "vfs"];

    /// <summary><c>BERTH_DRIVER</c>, else Docker's <c>DOCKER_DRIVER</c>; null when neither is set.</summary>
    public static string? NameFromEnvironment() =>
        Environment.GetEnvironmentVariable("BERTH_DRIVER") is { Length: > 0 } b ? b
        : Environment.GetEnvironmentVariable("DOCKER_DRIVER") is { Length: > 0 } d ? d : null;

    /// <summary>
    /// <paramref name="name"/> null picks overlay2 when overlayfs works on <paramref name="dataRoot"/>, else vfs.
    /// An unknown name, or overlay2 where it can't work, is an <see cref="ArgumentException"/>.
    /// </summary>
    public static IGraphDriver Create(string dataRoot, string? name)
    {
        switch (name)
        {
            case null or "":
                return Overlay2Driver.Probe(dataRoot, out _) ? new Overlay2Driver(dataRoot) : new VfsDriver(dataRoot);
            case "overlay2" or "overlay":
                if (!Overlay2Driver.Probe(dataRoot, out var reason))
                    throw new ArgumentException($"storage driver overlay2 is not supported on {dataRoot}: {reason}");
                return new Overlay2Driver(dataRoot);
            case "btrfs":
                return new BtrfsDriver(dataRoot);
            case "vfs":
                return new VfsDriver(dataRoot);
            default:
                throw new ArgumentException($"unknown storage driver \"{name}\" (supported: {string.Join(", ", Names)})");
        }
    }
}
