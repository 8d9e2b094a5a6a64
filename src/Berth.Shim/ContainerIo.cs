using Berth.Interop;
using Berth.Runtime;
using Berth.Shim.Client;
using Microsoft.Win32.SafeHandles;

namespace Berth.Shim;

/// <summary>
/// The shim's ends of the container's stdio: pipes for a plain container, a pty master for a tty one.
/// The container's ends are handed to the runtime and closed here after create, so output reaches EOF
/// exactly when the container's processes are gone.
/// </summary>
public sealed class ContainerIo : IDisposable
{
    readonly List<int> _containerEnds = [];
    readonly List<(Stream Source, StdStream Stream)> _outputs = [];

    public ContainerStdio ForContainer { get; private set; } = new(-1, -1, -1);
    public bool Tty { get; private set; }
    public Stream? Stdin { get; private set; }
    public IReadOnlyList<(Stream Source, StdStream Stream)> Outputs => _outputs;

    ContainerIo() { }

    /// <summary>stdout and stderr pipes, and a stdin pipe when <paramref name="openStdin"/> (else /dev/null).</summary>
    public static ContainerIo CreatePipes(bool openStdin)
    {
        var io = new ContainerIo();
        try
        {
            int stdin = -1;
            if (openStdin)
            {
                var (read, write) = LibC.Pipe();
                io._containerEnds.Add(read);
                io.Stdin = Open(write, FileAccess.Write);
                stdin = read;
            }
            int stdout = io.AddOutput(StdStream.Stdout);
            int stderr = io.AddOutput(StdStream.Stderr);
            io.ForContainer = new ContainerStdio(stdin, stdout, stderr);
            return io;
        }
        catch
        {
            io.Dispose();
            throw;
        }
    }

    public static ContainerIo CreatePty(bool openStdin, Berth.Runtime.Oci.Box? size) =>
        throw new NotSupportedException("terminal containers need the runtime's Pty");

    public void Resize(int height, int width)
    {
        if (!Tty) throw new InvalidOperationException("container has no terminal");
    }

    int AddOutput(StdStream stream)
    {
        var (read, write) = LibC.Pipe();
        _containerEnds.Add(write);
        _outputs.Add((Open(read, FileAccess.Read), stream));
        return write;
    }

    static FileStream Open(int fd, FileAccess access) =>
        new(new SafeFileHandle(fd, ownsHandle: true), access, bufferSize: 0);

    /// <summary>After create the container holds its own copies; ours would keep the pipes from ever reaching EOF.</summary>
    public void CloseContainerEnds()
    {
        foreach (var fd in _containerEnds) new SafeFileHandle(fd, ownsHandle: true).Dispose();
        _containerEnds.Clear();
    }

    public void CloseStdin()
    {
        Stdin?.Dispose();
        Stdin = null;
    }

    public void Dispose()
    {
        CloseContainerEnds();
        CloseStdin();
        foreach (var (source, _) in _outputs) source.Dispose();
    }
}
