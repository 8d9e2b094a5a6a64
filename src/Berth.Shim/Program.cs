using Berth.Interop;
using Berth.Runtime;
using Berth.Shim;
using Berth.Shim.Client;
using System.Text.Json;

// berth-shim: one process per container that owns its stdio, json-file log and exit status, so the
// container outlives berthd restarts. Startup reports exactly one line on stdout ("ready <pid>" or
// "error <message>"); after that the shim talks only through its socket and its state dir.

// Own session: signals aimed at the daemon's terminal or process group must not reach the shim.
// EPERM only means we already lead a group, which is just as good.
if (LibC.Setsid() == -1 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != Errno.EPERM)
{
    Console.Out.Write($"error {SysException.FromLastError("setsid").Message}\n");
    return 1;
}

// Standby: started by the daemon before a container needs it (ShimLauncher); the arguments come as
// one JSON line on stdin, and EOF there means the daemon no longer wants us. What follows --standby
// only names the daemon's exec root, so ps and pgrep show whose shim this is.
bool standby = args is ["--standby", ..];
if (standby)
{
    // A standby is started while another container starts: it runs in the background (nice 10, which
    // the threads it creates inherit) and does now the work the next container would otherwise wait for.
    // berthd already starts it so (ShimLauncher); a standby started by hand gets it here.
    if (LibC.GetPriority(LibC.PRIO_PROCESS, 0) < ShimLauncher.StandbyNice) LibC.SetPriority(LibC.PRIO_PROCESS, 0, ShimLauncher.StandbyNice);
    WarmThreadPool(4);
    Prewarm();
    var line = Console.In.ReadLine();
    if (line is null) return 0;
    ForAllThreads(tid => LibC.SetPriority(LibC.PRIO_PROCESS, (uint)tid, 0));
    try { args = JsonSerializer.Deserialize(line, ShimJsonContext.Default.StringArray) ?? []; }
    catch (JsonException e)
    {
        Console.Out.Write($"error bad standby arguments: {OneLine(e.Message)}\n");
        return 1;
    }
}

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

if (!standby) WarmThreadPool(4);
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

// System.Text.Json configures a type's metadata on its first use (milliseconds for the protocol's types):
// done here, it is off the container's start path. The spec's field tables are built here too.
static void Prewarm()
{
    JsonSerializer.Serialize(Array.Empty<string>(), ShimJsonContext.Default.StringArray);
    JsonSerializer.Serialize(new ShimRequest(), ShimJsonContext.Default.ShimRequest);
    JsonSerializer.Serialize(ShimReply.Success, ShimJsonContext.Default.ShimReply);
    JsonSerializer.Serialize(new ShimState(), ShimJsonContext.Default.ShimState);
    JsonSerializer.Serialize(new ExitInfo(), ShimJsonContext.Default.ExitInfo);
    JsonSerializer.Serialize(new LogEntry(), ShimJsonContext.Default.LogEntry);
    GC.KeepAlive(Berth.Runtime.Oci.SpecJson.Spec);
}

static void ForAllThreads(Action<int> action)
{
    foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        if (int.TryParse(Path.GetFileName(task), out var tid)) action(tid);
}

// Create blocks for most of the container's start-up (init sets up the rootfs meanwhile). Starting
// pool threads now, in that idle time, saves the attach, wait and start requests that arrive right
// after "ready" from each waiting for a thread to be created.
static void WarmThreadPool(int threads)
{
    ThreadPool.GetMinThreads(out var workers, out var io);
    ThreadPool.SetMinThreads(Math.Max(workers, threads), io);
    var started = new CountdownEvent(threads);
    for (int i = 0; i < threads; i++)
        ThreadPool.UnsafeQueueUserWorkItem(static e => { e.Signal(); e.Wait(TimeSpan.FromMilliseconds(100)); }, started, preferLocal: false);
}
