using System.Collections;
using Berth.Interop;

namespace Berth.Cli.Commands;

/// <summary>
/// <c>berth registry serve|garbage-collect ...</c>: Berth's private registry server is its own
/// program (bin/berth-registry, beside this one), so the CLI replaces itself with it, arguments
/// unchanged; signals and the exit status then belong to the server directly.
/// </summary>
public static class RegistryCommand
{
    public static Command Create() => new("registry", "registry COMMAND [OPTIONS]",
        "Run Berth's private registry server (serve, garbage-collect)", [], Exec, MinArgs: 1, StopAtFirstPositional: true);

    static unsafe Task<int> Exec(Cli c, ParsedArgs p)
    {
        var path = Path.Combine(Path.GetDirectoryName(Environment.ProcessPath) ?? ".", "berth-registry");
        var env = new List<string>();
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables()) env.Add($"{e.Key}={e.Value}");
        var argv = LibC.AllocStringArray([path, .. p.Positionals]);
        var envp = LibC.AllocStringArray(env);
        LibC.Execve(path, argv, envp);
        var error = SysException.FromLastError("exec", path);
        LibC.FreeStringArray(argv);
        LibC.FreeStringArray(envp);
        c.Err.WriteLine(error.Message);
        return Task.FromResult(1);
    }
}
