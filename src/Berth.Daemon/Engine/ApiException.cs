namespace Berth.Daemon.Engine;

/// <summary>
/// An error a client can act on: it carries the HTTP status the Docker API uses for it and the
/// exact message Docker prints, e.g. 404 "No such container: web".
/// </summary>
public sealed class ApiException : Exception
{
    public int StatusCode { get; }

    public ApiException(int statusCode, string message, Exception? inner = null) : base(message, inner) =>
        StatusCode = statusCode;

    public static ApiException BadRequest(string message) => new(400, message);
    public static ApiException NotFound(string message) => new(404, message);
    public static ApiException Conflict(string message) => new(409, message);
    public static ApiException Forbidden(string message) => new(403, message);
    public static ApiException NotImplemented(string message) => new(501, message);

    public static ApiException NoSuchContainer(string name) => NotFound($"No such container: {name}");
    public static ApiException NoSuchImage(string name) => NotFound($"No such image: {name}");

    /// <summary>Maps any exception to the status Docker would give it.</summary>
    public static ApiException From(Exception e) => e switch
    {
        ApiException api => api,
        Graph.NotFoundException nf => new ApiException(404, nf.Message, nf),
        Graph.ConflictException c => new ApiException(409, c.Message, c),
        System.Text.Json.JsonException j => new ApiException(400, $"invalid JSON: {j.Message}", j),
        FormatException f => new ApiException(400, f.Message, f),
        ArgumentException a => new ApiException(400, a.Message, a),
        InvalidDataException d => new ApiException(400, d.Message, d),
        _ => new ApiException(500, e.Message, e),
    };
}
