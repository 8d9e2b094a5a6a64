using Berth.Interop;
using Berth.Runtime;
using Berth.Shim.Client;
using Microsoft.Win32.SafeHandles;

namespace Berth.Shim;

/// <summary>
/// The shim's ends of the container's stdio: pipes for a plain container, the pty master for a tty one.
/// The container's pipe ends are handed to the runtime and closed here after create, so output reaches
/// EOF exactly when the container's processes are gone; a tty's slave only ever exists inside the container.
/// </summary>
public sealed class ContainerIo : IDisposable
{
    readonly List<int> _containerEnds = [];
    readonly List<(Stream Source, StdStream Stream)> _outputs = [];
    SafeFileHandle? _master;

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

    /// <summary>
    /// A tty container's stdio: the master of the pty that init made inside the container. It carries
    /// output (as stdout) and, when <paramref name="openStdin"/>, input.
    /// </summary>
    public static ContainerIo ForConsole(SafeFileHandle master, bool openStdin)
    {
        var io = new ContainerIo { Tty = true, _master = master };
        try
        {
            // Separate fds for reading and writing so the output pump and stdin writers never share a stream.
            io._outputs.Add((Open(Duplicate(master), FileAccess.Read), StdStream.Stdout));
            if (openStdin) io.Stdin = Open(Duplicate(master), FileAccess.Write);
            return io;
        }
        catch
        {
            io.Dispose();
            throw;
        }
    }

    static int Duplicate(SafeFileHandle fd) =>
        LibC.Check(LibC.Fcntl((int)fd.DangerousGetHandle(), LibC.F_DUPFD_CLOEXEC, 0), "fcntl F_DUPFD_CLOEXEC");

    public void Resize(int height, int width)
    {
        if (_master is null) throw new InvalidOperationException("container has no terminal");
        Pty.Resize(_master, checked((ushort)height), checked((ushort)width));
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
        _master?.Dispose();
    }
}
