namespace Berth.Registry;

public enum RegistryErrorKind { Unauthorized, Denied, NotFound, Invalid, Unsupported, Transient }

/// <summary>A registry operation failed; <see cref="Kind"/> says how, so the daemon can pick Docker's status code.</summary>
public sealed class RegistryException(RegistryErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public RegistryErrorKind Kind { get; } = kind;
    public bool IsTransient => Kind == RegistryErrorKind.Transient;
}
