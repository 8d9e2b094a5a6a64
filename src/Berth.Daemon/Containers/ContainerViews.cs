using Berth.Api;

namespace Berth.Daemon.Containers;

/// <summary>How containers look on the wire: inspect documents, `ps` rows and status phrases.</summary>
public static class ContainerViews
{
    public static ContainerInspect Inspect(Container c, ContainerFiles files, string driver, Dictionary<string, string>? graphData, NetworkSettings network)
    {
        var r = c.Record;
        var s = r.State;
        return new ContainerInspect
        {
            Id = r.Id,
            Created = Timestamps.Rfc3339Nano(r.Created),
            Path = r.Path,
            Args = r.Args,
            State = new ContainerState
            {
                Status = s.Status,
                Running = s.Status is "running" or "paused" or "restarting",
                Paused = s.Status == "paused",
                Restarting = s.Status == "restarting",
                OOMKilled = s.OOMKilled,
                Dead = s.Status == "dead",
                Pid = s.Pid,
                ExitCode = s.ExitCode,
                Error = s.Error,
                StartedAt = Timestamps.Rfc3339Nano(s.StartedAt),
                FinishedAt = Timestamps.Rfc3339Nano(s.FinishedAt),
            },
            Image = r.ImageId,
            ResolvConfPath = files.ResolvConfPath,
            HostnamePath = files.HostnamePath,
            HostsPath = files.HostsPath,
            LogPath = files.LogPath,
            Name = r.Name,
            RestartCount = r.RestartCount,
            Driver = driver,
            HostConfig = r.HostConfig,
            GraphDriver = new GraphDriverData { Name = driver, Data = graphData },
            Config = r.Config,
            NetworkSettings = network,
        };
    }

    public static ContainerSummary Summary(Container c, string imageDisplay, List<PortSummary> ports)
    {
        var r = c.Record;
        return new ContainerSummary
        {
            Id = r.Id,
            Names = new List<string> { r.Name },
            Image = imageDisplay,
            ImageID = r.ImageId,
            Command = CommandLine(r),
            Created = r.Created.ToUnixTimeSeconds(),
            Labels = r.Config.Labels ?? new(),
            State = r.State.Status,
            Status = Status(r.State, DateTimeOffset.UtcNow),
            HostConfig = new SummaryHostConfig { NetworkMode = r.HostConfig.NetworkMode },
            Ports = ports,
            NetworkSettings = new SummaryNetworkSettings { Networks = r.Networks },
        };
    }

    /// <summary>Docker's display of the command: arguments joined by spaces, each quoted only if needed.</summary>
    public static string CommandLine(ContainerRecord r) =>
        string.Join(' ', new[] { r.Path }.Concat(r.Args).Select(a => a.Length == 0 || a.Any(ch => char.IsWhiteSpace(ch) || ch is '\'' or '"') ? Quote(a) : a));

    static string Quote(string a) => "'" + a.Replace("'", "'\\''") + "'";

    /// <summary>The STATUS column: "Up 5 minutes", "Exited (3) 2 seconds ago", "Created".</summary>
    public static string Status(ContainerStateRecord s, DateTimeOffset now) => s.Status switch
    {
        "running" => "Up " + HumanDuration(now - s.StartedAt),
        "paused" => "Up " + HumanDuration(now - s.StartedAt) + " (Paused)",
        "restarting" => $"Restarting ({s.ExitCode}) {HumanDuration(now - s.FinishedAt)} ago",
        "exited" => s.FinishedAt == default ? $"Exited ({s.ExitCode})" : $"Exited ({s.ExitCode}) {HumanDuration(now - s.FinishedAt)} ago",
        "removing" => "Removal In Progress",
        "dead" => "Dead",
        _ => "Created",
    };

    /// <summary>Go's units.HumanDuration, which Docker uses for ages and uptimes.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < 1) return "Less than a second";
        if (seconds == 1) return "1 second";
        if (seconds < 60) return $"{seconds} seconds";
        var minutes = (long)d.TotalMinutes;
        if (minutes == 1) return "About a minute";
        if (minutes < 60) return $"{minutes} minutes";
        var hours = (long)Math.Round(d.TotalHours);
        if (hours == 1) return "About an hour";
        if (hours < 48) return $"{hours} hours";
        if (hours < 24 * 7 * 2) return $"{hours / 24} days";
        if (hours < 24 * 30 * 2) return $"{hours / 24 / 7} weeks";
        if (hours < 24 * 365 * 2) return $"{hours / 24 / 30} months";
        return $"{hours / 24 / 365} years";
    }
}
