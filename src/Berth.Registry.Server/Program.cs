using Berth.Registry.Server;

if (args.Length == 0 || args[0] == "help" || args.Any(a => a is "-h" or "--help"))
{
    Console.Out.Write(RegistryOptions.Usage);
    return args.Length == 0 ? 1 : 0;
}
RegistryOptions options;
try { options = RegistryOptions.Parse(args[1..]); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"berth-registry: {e.Message}\n\n{RegistryOptions.Usage}");
    return 2;
}

switch (args[0])
{
    case "serve":
        RegistryServer server;
        try { server = await RegistryServer.StartAsync(options); }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or FormatException or System.Security.Cryptography.CryptographicException)
        {
            Console.Error.WriteLine($"berth-registry: {e.Message}");
            return 1;
        }
        await using (server) await server.WaitForShutdownAsync();
        return 0;
    case "garbage-collect":
        if (!Directory.Exists(options.Root))
        {
            Console.Error.WriteLine($"berth-registry: no registry at {options.Root}");
            return 1;
        }
        GarbageCollector.Run(new Storage(options.Root), options.DryRun, options.MinAge, Console.Out);
        return 0;
    default:
        Console.Error.WriteLine($"berth-registry: unknown command {args[0]}\n\n{RegistryOptions.Usage}");
        return 2;
}
