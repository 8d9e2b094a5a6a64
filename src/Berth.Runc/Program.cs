using Berth.Runc;

// Hot path: `berth-runc init` runs on every container start, so dispatch before anything else loads.
if (args is ["init", ..]) return Berth.Runtime.Init.ContainerInit.Run(args);
return Cli.Run(args);
