using Berth.Cli;
using Berth.Cli.Commands;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

return await Entry.MainAsync(args);

namespace Berth.Cli
{
    /// <summary>Global flags, command dispatch and the mapping of failures to docker's messages and exit codes.</summary>
    public static class Entry
    {
        static readonly Flag[] GlobalFlags =
        {
            new("host", 'H'), new("debug", 'D', true), new("log-level", 'l'), new("tls", IsBool: true),
            new("tlsverify", IsBool: true), new("tlscacert"), new("tlscert"), new("tlskey"),
            new("version", 'v', true), new("config"), new("context", 'c'), new("help", IsBool: true),
        };

        public static async Task<int> MainAsync(string[] args)
        {
            var stdout = new SynchronousStream(Console.OpenStandardOutput());
            var stderr = new SynchronousStream(Console.OpenStandardError());
            int split = 0;
            // Global flags come before the command name; find where they end.
            while (split < args.Length && args[split].StartsWith('-'))
            {
                var a = args[split++];
                var name = a.StartsWith("--") ? a[2..].Split('=')[0] : a.Length == 2 ? a[1..] : "";
                var flag = GlobalFlags.FirstOrDefault(f => f.Long == name || (name.Length == 1 && f.Short == name[0]));
                if (flag is { IsBool: false } && !a.Contains('=') && split < args.Length) split++;
            }
            var err = new StreamWriter(stderr) { AutoFlush = true, NewLine = "\n" };
            ParsedArgs globals;
            try { globals = ParsedArgs.Parse(GlobalFlags, args[..split], false); }
            catch (UsageException e)
            {
                err.WriteLine($"{e.Message}\n\nUsage:  {Cli.ProgramName} [OPTIONS] COMMAND\n\nRun '{Cli.ProgramName} --help' for more information");
                return 125;
            }
            if (globals.Bool("version"))
            {
                await stdout.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"Berth version {Berth.Api.ApiVersions.BerthVersion}\n"));
                return 0;
            }
            var rest = args[split..];
            if (rest.Length == 0 || globals.Bool("help") || rest[0] == "help")
            {
                await stdout.WriteAsync(System.Text.Encoding.UTF8.GetBytes(Commands.Registry.GlobalUsage()));
                return 0;
            }

            var (command, cmdArgs) = Registry.Resolve(rest);
            if (command is null)
            {
                err.WriteLine($"{Cli.ProgramName}: unknown command: {Cli.ProgramName} {string.Join(' ', rest.TakeWhile(r => !r.StartsWith('-')).Take(2))}\n\nRun '{Cli.ProgramName} --help' for more information");
                return 1;
            }

            ParsedArgs parsed;
            try
            {
                parsed = ParsedArgs.Parse(command.Flags.Append(new Flag("help", IsBool: true)).ToList(), cmdArgs, command.StopAtFirstPositional);
                if (parsed.Bool("help"))
                {
                    await stdout.WriteAsync(System.Text.Encoding.UTF8.GetBytes(command.Help()));
                    return 0;
                }
                command.CheckArgs(parsed);
            }
            catch (UsageException e)
            {
                err.WriteLine($"{e.Message}\n\nUsage:  {Cli.ProgramName} {command.Usage}\n\nRun '{Cli.ProgramName} {command.Name} --help' for more information");
                return 125;
            }
            catch (ArgCountException e)
            {
                err.WriteLine($"\"{Cli.ProgramName} {command.Name}\" {e.Message}.\nSee '{Cli.ProgramName} {command.Name} --help'.\n\nUsage:  {Cli.ProgramName} {command.Usage}\n\n{command.Description}");
                return 1;
            }

            DaemonClient client;
            try { client = CreateClient(globals, command.Sequential); }
            catch (FormatException e)
            {
                err.WriteLine(e.Message);
                return 1;
            }
            var cli = new Cli(client, stdout, stderr);
            try
            {
                return await command.Run(cli, parsed);
            }
            catch (ExitException e) { return e.Code; }
            catch (DaemonUnreachableException e)
            {
                await cli.Out.FlushAsync();
                cli.Err.WriteLine(e.Message);
                return command.Name is "run" or "create" ? 125 : 1;
            }
            catch (DaemonException e)
            {
                await cli.Out.FlushAsync();
                cli.Err.WriteLine("Error response from daemon: " + e.Message);
                return 1;
            }
            catch (TemplateException e)
            {
                await cli.Out.FlushAsync();
                cli.Err.WriteLine("template parsing error: " + e.Message);
                return 1;
            }
            catch (UsageException e)
            {
                await cli.Out.FlushAsync();
                cli.Err.WriteLine(e.Message);
                return 125;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or System.Net.Sockets.SocketException or System.Text.Json.JsonException)
            {
                await cli.Out.FlushAsync();
                cli.Err.WriteLine("error during connect: " + e.Message);
                return 1;
            }
            finally
            {
                await cli.Out.FlushAsync();
            }
        }

        /// <summary><c>-H</c>, then BERTH_HOST, then DOCKER_HOST, then the default socket; TLS from the flags or DOCKER_TLS_VERIFY.</summary>
        static DaemonClient CreateClient(ParsedArgs globals, bool sequential)
        {
            var host = globals.Get("host") ?? Env("BERTH_HOST") ?? Env("DOCKER_HOST") ?? DaemonEndpoint.DefaultHost;
            bool verify = globals.Bool("tlsverify") || Env("DOCKER_TLS_VERIFY") is not null;
            bool tls = verify || globals.Bool("tls");
            var certDir = Env("DOCKER_CERT_PATH") ?? Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".docker");
            var endpoint = DaemonEndpoint.Parse(host);
            if (tls)
            {
                endpoint = endpoint.WithTls(new TlsOptions(verify,
                    globals.Get("tlscacert") ?? Path.Combine(certDir, "ca.pem"),
                    globals.Get("tlscert") ?? Path.Combine(certDir, "cert.pem"),
                    globals.Get("tlskey") ?? Path.Combine(certDir, "key.pem")));
            }
            return new DaemonClient(endpoint, Env("DOCKER_API_VERSION"), sequential);
        }

        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
    }
}
