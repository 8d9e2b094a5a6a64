using System.Runtime.InteropServices;
using Berth.Daemon;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

// berthd: parse dockerd-style flags, start the daemon, and shut it down cleanly on SIGTERM/SIGINT.
var options = DaemonOptions.Parse(args, Console.Error, out var exitCode);
if (options is null) return exitCode;
if (Environment.UserName != "root" && Berth.Interop.LibC.geteuid() != 0)
{
    Console.Error.WriteLine("berthd: must run as root");
    return 1;
}

using var logProvider = new ConsoleLoggerProvider(new StaticOptions(new ConsoleLoggerOptions { LogToStandardErrorThreshold = LogLevel.Trace }));
var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });

var daemon = new BerthDaemon(options, logProvider);
try
{
    await daemon.StartAsync();
}
catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException or UnauthorizedAccessException or Berth.Interop.SysException)
{
    Console.Error.WriteLine($"berthd: {e.Message}");
    await daemon.DisposeAsync();
    return 1;
}
await stop.Task;
await daemon.DisposeAsync();
return 0;

/// <summary>An IOptionsMonitor that never changes: the console logger without the options machinery.</summary>
sealed class StaticOptions(ConsoleLoggerOptions value) : Microsoft.Extensions.Options.IOptionsMonitor<ConsoleLoggerOptions>
{
    public ConsoleLoggerOptions CurrentValue => value;
    public ConsoleLoggerOptions Get(string? name) => value;
    public IDisposable? OnChange(Action<ConsoleLoggerOptions, string?> listener) => null;
}
