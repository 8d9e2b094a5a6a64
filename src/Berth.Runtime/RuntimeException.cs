namespace Berth.Runtime;

/// <summary>A container could not be created, started or managed; the message is meant for the user (init's own words where init failed).</summary>
public sealed class RuntimeException(string message, Exception? inner = null) : Exception(message, inner);
