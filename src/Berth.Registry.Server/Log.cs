using Microsoft.Extensions.Logging;

namespace Berth.Registry.Server;

static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "berth-registry listening on {Address} (root {Root})")]
    public static partial void Listening(ILogger logger, string address, string root);

    [LoggerMessage(2, LogLevel.Debug, "{Method} {Path} -> {Status}")]
    public static partial void Request(ILogger logger, string method, string path, int status);

    [LoggerMessage(3, LogLevel.Information, "{Method} {Path} refused: {Code} {Detail}")]
    public static partial void Refused(ILogger logger, string method, string path, string code, string? detail);

    [LoggerMessage(4, LogLevel.Error, "{Method} {Path} failed")]
    public static partial void Failed(ILogger logger, Exception e, string method, string path);

    [LoggerMessage(5, LogLevel.Information, "pushed {Name}@{Digest} ({MediaType})")]
    public static partial void ManifestPushed(ILogger logger, string name, string digest, string mediaType);
}
