using Berth.Interop;

namespace Berth.Cli.Terminal;

/// <summary>
/// The local terminal for <c>run -it</c>/<c>attach</c> (raw mode) and password prompts (no echo): a
/// changed mode that is undone by disposing (callers use <c>using</c>, so every exit path restores the terminal).
/// </summary>
public sealed class RawMode : IDisposable
{
    readonly int _fd;
    readonly LibC.Termios _saved;
    bool _restored;

    RawMode(int fd, LibC.Termios saved)
    {
        _fd = fd;
        _saved = saved;
        // A crash or Environment.Exit must not leave the user's shell in raw mode.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
    }

    /// <summary>Puts <paramref name="fd"/> in raw mode; null when it is not a terminal.</summary>
    public static RawMode? Enter(int fd) => Change(fd, (ref LibC.Termios t) => LibC.Cfmakeraw(ref t));

    /// <summary>Turns echo off on <paramref name="fd"/> (for a password); null when it is not a terminal.</summary>
    public static RawMode? NoEcho(int fd) => Change(fd, (ref LibC.Termios t) => t.ClearLocalFlags(LibC.ECHO));

    delegate void Edit(ref LibC.Termios t);

    static RawMode? Change(int fd, Edit edit)
    {
        if (!Tty.IsTerminal(fd) || LibC.Tcgetattr(fd, out var saved) != 0) return null;
        var changed = saved;
        edit(ref changed);
        LibC.Check(LibC.Tcsetattr(fd, LibC.TCSANOW, changed), "tcsetattr");
        return new RawMode(fd, saved);
    }

    public void Dispose()
    {
        if (_restored) return;
        _restored = true;
        LibC.Tcsetattr(_fd, LibC.TCSANOW, _saved);
    }
}

public static class Tty
{
    public const int Stdin = 0, Stdout = 1;

    public static bool IsTerminal(int fd) => LibC.Isatty(fd) == 1;

    /// <summary>(rows, cols) of the terminal on <paramref name="fd"/>, or null.</summary>
    public static (int Rows, int Cols)? Size(int fd) =>
        LibC.IoctlGetWinSize(fd, LibC.TIOCGWINSZ, out var ws) == 0 && ws.Rows > 0 ? (ws.Rows, ws.Cols) : null;
}
