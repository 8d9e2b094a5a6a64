namespace Berth.Shim.Client;

/// <summary>The shim refused or failed an operation; the message is the shim's own.</summary>
public class ShimException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The shim's socket can't be reached: the shim has exited (normally because its container did) or never
/// started. Callers fall back to <see cref="ExitInfo.TryRead"/>.
/// </summary>
public sealed class ShimUnavailableException(string socketPath, Exception inner)
    : ShimException($"shim at {socketPath} is not running: {inner.Message}", inner)
{
    public string SocketPath { get; } = socketPath;
}
