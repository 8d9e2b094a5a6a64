namespace Berth.Daemon.Engine;

/// <summary>
/// A job's standard output, as the transport provides it. Handlers say what to reply; the Server
/// decides how it goes on the wire (JSON bodies, chunked streams, hijacked connections).
/// </summary>
public interface IJobOutput
{
    /// <summary>Reply with one JSON value.</summary>
    Task JsonAsync<T>(int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type);
    /// <summary>Reply with no body (204, or 200/201 with empty body).</summary>
    Task EmptyAsync(int status);
    /// <summary>Reply with a plain text body.</summary>
    Task TextAsync(int status, string text, string contentType = "text/plain; charset=utf-8");
    /// <summary>Start a streamed reply: 200 with the given content type; write and flush as you go.</summary>
    Task<Stream> StreamAsync(string contentType);
    /// <summary>
    /// Take over the connection (attach, exec start): answers 101 UPGRADED when the client asked for
    /// an upgrade, else 200, then returns the raw duplex stream.
    /// </summary>
    Task<Stream> HijackAsync(string contentType);
    /// <summary>Whether the reply has started: errors can no longer change the status.</summary>
    bool Started { get; }
}
