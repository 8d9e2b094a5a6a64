using System.Globalization;
using System.Text;
using System.Text.Json;
using Berth.Api;
using Berth.Cli.Formatting;
using Berth.Cli.Templates;
using Berth.Cli.Transport;

namespace Berth.Cli.Commands;

public static class SystemCommands
{
    public static IEnumerable<Command> All() => new Command[]
    {
        new("version", "version [OPTIONS]", "Show the Berth version information", new Flag[] { new("format", 'f') }, Version, MaxArgs: 0),
        new("info", "info [OPTIONS]", "Display system-wide information", new Flag[] { new("format", 'f') }, Info, MaxArgs: 0),
        new("events", "events [OPTIONS]", "Get real time events from the server",
            new Flag[] { new("since"), new("until"), new("filter", 'f'), new("format") }, Events, MaxArgs: 0),
    };

    static async Task<int> Version(Cli c, ParsedArgs p)
    {
        var sb = new StringBuilder();
        sb.Append("Client:\n");
        sb.Append($" Version:           {ApiVersions.BerthVersion}\n");
        SystemVersion? server = null;
        string? error = null;
        try
        {
            var negotiated = await c.Client.GetVersionAsync();
            var downgraded = DaemonClient.CompareVersions(negotiated, DaemonClient.ClientMaxVersion) < 0 ? $" (downgraded from {DaemonClient.ClientMaxVersion})" : "";
            sb.Append($" API version:       {negotiated}{downgraded}\n");
            server = await c.Client.GetJsonAsync("/version", null, ApiJson.Default.SystemVersion);
        }
        catch (Exception e) when (e is DaemonException or DaemonUnreachableException)
        {
            sb.Append($" API version:       {DaemonClient.ClientMaxVersion}\n");
            error = e is DaemonException ? "Error response from daemon: " + e.Message : e.Message;
        }
        sb.Append($" Go version:        {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}\n");
        sb.Append(" OS/Arch:           linux/amd64\n");
        sb.Append(" Context:           default\n");
        if (server is not null)
        {
            sb.Append("\nServer:").Append(server.Platform.Name.Length > 0 ? " " + server.Platform.Name : "").Append('\n');
            foreach (var comp in server.Components)
            {
                sb.Append(' ').Append(comp.Name).Append(":\n");
                if (comp.Name == "Engine")
                {
                    var d = comp.Details ?? new Dictionary<string, string>();
                    string D(string k) => d.TryGetValue(k, out var v) ? v : "";
                    sb.Append($"  Version:          {comp.Version}\n");
                    sb.Append($"  API version:      {D("ApiVersion")} (minimum version {D("MinAPIVersion")})\n");
                    sb.Append($"  Go version:       {D("GoVersion")}\n");
                    sb.Append($"  Git commit:       {D("GitCommit")}\n");
                    sb.Append($"  Built:            {D("BuildTime")}\n");
                    sb.Append($"  OS/Arch:          {D("Os")}/{D("Arch")}\n");
                    sb.Append($"  Experimental:     {D("Experimental")}\n");
                }
                else
                {
                    sb.Append($"  Version:          {comp.Version}\n");
                    foreach (var (k, v) in (comp.Details ?? new()).OrderBy(kv => kv.Key, StringComparer.Ordinal))
                        sb.Append($"  {k + ":",-18}{v}\n");
                }
            }
        }
        c.Out.Write(sb.ToString());
        if (error is null) return 0;
        await c.Out.FlushAsync();
        c.Err.WriteLine(error);
        return 1;
    }

    static async Task<int> Info(Cli c, ParsedArgs p)
    {
        var raw = await c.Client.GetBytesAsync("/info");
        if (p.Get("format") is { } format)
        {
            using var doc = JsonDocument.Parse(raw);
            c.Out.WriteLine(Template.Parse(format).Execute(doc.RootElement));
            return 0;
        }
        var i = JsonSerializer.Deserialize(raw, ApiJson.Default.SystemInfo)!;
        var sb = new StringBuilder();
        sb.Append("Client:\n Version:    ").Append(ApiVersions.BerthVersion).Append("\n Context:    default\n Debug Mode: false\n\nServer:\n");
        sb.Append($" Containers: {i.Containers}\n  Running: {i.ContainersRunning}\n  Paused: {i.ContainersPaused}\n  Stopped: {i.ContainersStopped}\n");
        sb.Append($" Images: {i.Images}\n Server Version: {i.ServerVersion}\n Storage Driver: {i.Driver}\n");
        foreach (var kv in i.DriverStatus.Where(kv => kv.Count == 2)) sb.Append($"  {kv[0]}: {kv[1]}\n");
        sb.Append($" Logging Driver: {i.LoggingDriver}\n Cgroup Driver: {i.CgroupDriver}\n Cgroup Version: {i.CgroupVersion}\n");
        sb.Append(" Plugins:\n");
        sb.Append($"  Volume: {string.Join(' ', i.Plugins.Volume)}\n  Network: {string.Join(' ', i.Plugins.Network)}\n");
        if (i.Plugins.Authorization is { Count: > 0 } auth) sb.Append($"  Authorization: {string.Join(' ', auth)}\n");
        sb.Append($"  Log: {string.Join(' ', i.Plugins.Log)}\n");
        sb.Append($" Swarm: {i.Swarm.LocalNodeState}\n");
        sb.Append($" Runtimes: {string.Join(' ', i.Runtimes.Keys.Order(StringComparer.Ordinal))}\n Default Runtime: {i.DefaultRuntime}\n");
        sb.Append($" Init Binary: {i.InitBinary}\n");
        sb.Append($" containerd version: {i.ContainerdCommit.ID}\n runc version: {i.RuncCommit.ID}\n init version: {i.InitCommit.ID}\n");
        if (i.SecurityOptions.Count > 0)
        {
            sb.Append(" Security Options:\n");
            foreach (var opt in i.SecurityOptions)
            {
                var kvs = opt.Split(',').Select(s => s.Split('=', 2)).ToList();
                foreach (var kv in kvs)
                {
                    if (kv.Length != 2) continue;
                    if (kv[0] == "name") sb.Append("  ").Append(kv[1]).Append('\n');
                    else sb.Append("   ").Append(char.ToUpperInvariant(kv[0][0]) + kv[0][1..]).Append(": ").Append(kv[1] == "builtin" ? "builtin" : kv[1]).Append('\n');
                }
            }
        }
        sb.Append($" Kernel Version: {i.KernelVersion}\n Operating System: {i.OperatingSystem}\n OSType: {i.OSType}\n Architecture: {i.Architecture}\n");
        sb.Append($" CPUs: {i.NCPU}\n Total Memory: {Units.BytesSize(i.MemTotal)}\n Name: {i.Name}\n ID: {i.ID}\n Docker Root Dir: {i.DockerRootDir}\n");
        sb.Append($" Debug Mode: {(i.Debug ? "true" : "false")}\n Experimental: {(i.ExperimentalBuild ? "true" : "false")}\n");
        if (i.RegistryConfig.InsecureRegistryCIDRs.Count > 0)
        {
            sb.Append(" Insecure Registries:\n");
            foreach (var r in i.RegistryConfig.InsecureRegistryCIDRs) sb.Append("  ").Append(r).Append('\n');
        }
        sb.Append($" Live Restore Enabled: {(i.LiveRestoreEnabled ? "true" : "false")}\n");
        c.Out.Write(sb.ToString());
        await c.Out.FlushAsync();
        foreach (var w in i.Warnings ?? new List<string>()) c.Err.WriteLine(w);
        return 0;
    }

    static async Task<int> Events(Cli c, ParsedArgs p)
    {
        var now = DateTimeOffset.UtcNow;
        var q = new Query()
            .Add("since", p.Get("since") is { } s ? TimeArg.ToApi(s, now) : null)
            .Add("until", p.Get("until") is { } u ? TimeArg.ToApi(u, now) : null)
            .Add("filters", ContainerCommands.ParseFilters(p.All("filter")));
        var format = p.Get("format");
        if (format == "json") format = "{{json .}}";
        var template = format is null ? null : Template.Parse(format.Replace("\\t", "\t").Replace("\\n", "\n"));
        await using var resp = await c.Client.SendAsync("GET", "/events", q);
        await foreach (var el in JsonSerializer.DeserializeAsyncEnumerable(resp.Body, EventJson.Default.JsonElement, topLevelValues: true))
        {
            if (template is not null) c.Out.WriteLine(template.Execute(el));
            else c.Out.WriteLine(FormatEvent(el));
            await c.Out.FlushAsync();
        }
        return 0;
    }

    /// <summary>docker events' default line: local time with nanoseconds, type, action, actor id, sorted attributes.</summary>
    public static string FormatEvent(JsonElement e)
    {
        long nanos = e.TryGetProperty("timeNano", out var tn) ? tn.GetInt64() : e.TryGetProperty("time", out var ts) ? ts.GetInt64() * 1_000_000_000 : 0;
        var t = DateTimeOffset.FromUnixTimeMilliseconds(nanos / 1_000_000).AddTicks(nanos % 1_000_000 / 100).ToLocalTime();
        var off = t.Offset;
        string zone = off == TimeSpan.Zero ? "Z" : $"{(off < TimeSpan.Zero ? '-' : '+')}{Math.Abs(off.Hours):00}:{Math.Abs(off.Minutes):00}";
        var sb = new StringBuilder();
        sb.Append(t.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture)).Append('.').Append((nanos % 1_000_000_000).ToString("000000000", CultureInfo.InvariantCulture)).Append(zone).Append(' ');
        string Str(string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        var actor = e.TryGetProperty("Actor", out var a) ? a : default;
        var id = actor.ValueKind == JsonValueKind.Object && actor.TryGetProperty("ID", out var aid) ? aid.GetString() : Str("id");
        sb.Append(Str("Type")).Append(' ').Append(Str("Action")).Append(' ').Append(id);
        if (actor.ValueKind == JsonValueKind.Object && actor.TryGetProperty("Attributes", out var attrs) && attrs.ValueKind == JsonValueKind.Object)
        {
            var list = attrs.EnumerateObject().OrderBy(x => x.Name, StringComparer.Ordinal).Select(x => x.Name + "=" + x.Value.GetString()).ToList();
            if (list.Count > 0) sb.Append(" (").Append(string.Join(", ", list)).Append(')');
        }
        return sb.ToString();
    }
}

/// <summary>Source-generated reader for untyped JSON values (events are streamed as they come).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(JsonElement))]
internal sealed partial class EventJson : System.Text.Json.Serialization.JsonSerializerContext;
