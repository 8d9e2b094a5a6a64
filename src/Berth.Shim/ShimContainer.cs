using Berth.Runtime;

namespace Berth.Shim;

/// <summary>The real container behind the shim protocol: the runtime's container and the shim's ends of its stdio.</summary>
public sealed class ShimContainer(IRuntimeContainer container, ContainerIo io) : IContainerTask
{
    public int Pid => container.Pid;
    public bool Tty => io.Tty;
    public Stream? Stdin => io.Stdin;

    public void Start() => container.Start();

    public void Signal(int signal) => container.Signal(signal);

    public void Resize(int height, int width) => io.Resize(height, width);

    public void CloseStdin()
    {
        // A tty's master carries output too, so stdin can't be closed on its own.
        if (!io.Tty) io.CloseStdin();
    }
}
