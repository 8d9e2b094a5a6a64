namespace Berth.Graph.Drivers;

internal static class LayerIds
{
    /// <summary>Layer ids become directory names, so they must be plain names.</summary>
    public static string Check(string id)
    {
        if (id.Length == 0 || id.Length > 128 || id is "." or ".." or "l" or "check" ||
            id.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."))
            throw new ArgumentException($"invalid layer id {id}");
        return id;
    }
}
