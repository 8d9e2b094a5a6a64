namespace Berth.Graph;

/// <summary>The thing asked for does not exist; the daemon answers 404 with <see cref="Exception.Message"/>.</summary>
public class NotFoundException(string message) : Exception(message);

/// <summary>The request clashes with the current state; the daemon answers 409 with <see cref="Exception.Message"/>.</summary>
public class ConflictException(string message) : Exception(message);

/// <summary>A short image id prefix that matches more than one image. Docker reports these as not found.</summary>
public sealed class AmbiguousReferenceException(string reference, int matches)
    : NotFoundException($"No such image: {reference} (the id prefix is ambiguous: it matches {matches} images)");
