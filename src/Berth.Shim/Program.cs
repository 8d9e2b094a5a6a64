using Berth.Interop;
using Berth.Runtime;
using Berth.Shim;
using Berth.Shim.Client;

// berth-shim: one process per container that owns its stdio, json-file log and exit status, so the
// container outlives berthd restarts. Startup reports exactly one line on stdout ("ready <pid>" or
// "error <message>"); after that the shim talks only through its socket and its state dir.

ShimArguments options;
try
{
    options = ShimArguments.Parse(args);
}
catch (ArgumentException e)
{
    Console.Out.Write($"error {e.Message}\n");
    return 1;
}

// Own session: signals aimed at the daemon's terminal or process group must not reach the shim.
// EPERM only means we already lead a group, which is just as good.
if (LibC.Setsid() == -1 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != Errno.EPERM)
{
    Console.Out.Write($"error {SysException.FromLastError("setsid").Message}\n");
    return 1;
}

ShimHost shim;
try
{
    shim = ShimHost.Create(options);
}
catch (Exception e)
{
    Console.Out.Write($"error {OneLine(e.Message)}\n");
    return 1;
}
Console.Out.Write($"ready {shim.Container.Pid}\n");
Console.Out.Flush();
try
{
    ShimHost.DetachStdio(Path.Combine(options.StateDir, "shim.log"));
}
catch (Exception e) when (e is SysException or IOException or UnauthorizedAccessException)
{
    // The container is already created and reported; losing the shim's own diagnostics is the lesser harm.
}
return await shim.RunAsync();

static string OneLine(string message) => message.ReplaceLineEndings(" ");
