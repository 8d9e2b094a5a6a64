namespace Berth.Shim;

/// <summary>
/// What the socket server needs from the container, so the protocol can be tested without creating one.
/// </summary>
public interface IContainerTask
{
    int Pid { get; }
    bool Tty { get; }
    void Start();
    /// <summary>Sends a signal to the container's init; a process that is already gone is not an error.</summary>
    void Signal(int signal);
    /// <summary>Sets the terminal size; throws <see cref="InvalidOperationException"/> without a tty.</summary>
    void Resize(int height, int width);
    /// <summary>Writes to the container's stdin; null when it has none (then attach input is discarded).</summary>
    Stream? Stdin { get; }
    /// <summary>Closes the container's stdin so it reads EOF. Does nothing for a tty, whose master also carries output.</summary>
    void CloseStdin();
}
