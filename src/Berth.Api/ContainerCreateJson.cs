using System.Text.Json;

namespace Berth.Api;

/// <summary>
/// Writes the body of <c>POST /containers/create</c> with a plain <see cref="Utf8JsonWriter"/>.
/// The CLI sends one on every run, and configuring System.Text.Json's metadata for HostConfig,
/// ContainerConfig and their parts costs more CPU than the rest of the CLI's start-up, so this
/// path needs none. The output is byte for byte what the source-generated serialisers in
/// <see cref="ApiJson"/> write for these types (same property order, same ignore conditions,
/// same escaping); a test holds the two together, including every property being written.
/// </summary>
public static class ContainerCreateJson
{
    public static byte[] Serialize(ContainerCreateRequest request)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(2048);
        using (var writer = new Utf8JsonWriter(buffer))
            Write(writer, request);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Docker's wire shape: the Config fields at the top level beside HostConfig and NetworkingConfig.</summary>
    public static void Write(Utf8JsonWriter w, ContainerCreateRequest request)
    {
        w.WriteStartObject();
        WriteConfigFields(w, request.Config);
        if (request.HostConfig is { } host)
        {
            w.WritePropertyName("HostConfig");
            WriteHostConfig(w, host);
        }
        if (request.NetworkingConfig is { } net)
        {
            w.WritePropertyName("NetworkingConfig");
            WriteNetworkingConfig(w, net);
        }
        w.WriteEndObject();
    }

    static void WriteConfigFields(Utf8JsonWriter w, ContainerConfig c)
    {
        w.WriteString("Hostname", c.Hostname);
        w.WriteString("Domainname", c.Domainname);
        w.WriteString("User", c.User);
        w.WriteBoolean("AttachStdin", c.AttachStdin);
        w.WriteBoolean("AttachStdout", c.AttachStdout);
        w.WriteBoolean("AttachStderr", c.AttachStderr);
        if (c.ExposedPorts is not null) WriteSet(w, "ExposedPorts", c.ExposedPorts);
        w.WriteBoolean("Tty", c.Tty);
        w.WriteBoolean("OpenStdin", c.OpenStdin);
        w.WriteBoolean("StdinOnce", c.StdinOnce);
        WriteStrings(w, "Env", c.Env);
        WriteStrings(w, "Cmd", c.Cmd);
        if (c.Healthcheck is { } health)
        {
            w.WriteStartObject("Healthcheck");
            WriteStrings(w, "Test", health.Test);
            w.WriteNumber("Interval", health.Interval);
            w.WriteNumber("Timeout", health.Timeout);
            w.WriteNumber("StartPeriod", health.StartPeriod);
            w.WriteNumber("Retries", health.Retries);
            w.WriteEndObject();
        }
        if (c.ArgsEscaped) w.WriteBoolean("ArgsEscaped", true);
        w.WriteString("Image", c.Image);
        WriteSet(w, "Volumes", c.Volumes);
        w.WriteString("WorkingDir", c.WorkingDir);
        WriteStrings(w, "Entrypoint", c.Entrypoint);
        if (c.NetworkDisabled) w.WriteBoolean("NetworkDisabled", true);
        if (c.MacAddress is not null) w.WriteString("MacAddress", c.MacAddress);
        WriteStrings(w, "OnBuild", c.OnBuild);
        WriteStringMap(w, "Labels", c.Labels);
        if (c.StopSignal is not null) w.WriteString("StopSignal", c.StopSignal);
        if (c.StopTimeout is { } stopTimeout) w.WriteNumber("StopTimeout", stopTimeout);
        if (c.Shell is not null) WriteStrings(w, "Shell", c.Shell);
    }

    static void WriteHostConfig(Utf8JsonWriter w, HostConfig h)
    {
        w.WriteStartObject();
        WriteStrings(w, "Binds", h.Binds);
        w.WriteString("ContainerIDFile", h.ContainerIDFile);
        w.WritePropertyName("LogConfig");
        if (h.LogConfig is null) w.WriteNullValue();
        else
        {
            w.WriteStartObject();
            w.WriteString("Type", h.LogConfig.Type);
            WriteStringMap(w, "Config", h.LogConfig.Config);
            w.WriteEndObject();
        }
        w.WriteString("NetworkMode", h.NetworkMode);
        w.WritePropertyName("PortBindings");
        WritePortBindings(w, h.PortBindings);
        w.WritePropertyName("RestartPolicy");
        if (h.RestartPolicy is null) w.WriteNullValue();
        else
        {
            w.WriteStartObject();
            w.WriteString("Name", h.RestartPolicy.Name);
            w.WriteNumber("MaximumRetryCount", h.RestartPolicy.MaximumRetryCount);
            w.WriteEndObject();
        }
        w.WriteBoolean("AutoRemove", h.AutoRemove);
        w.WriteString("VolumeDriver", h.VolumeDriver);
        WriteStrings(w, "VolumesFrom", h.VolumesFrom);
        WriteList(w, "ConsoleSize", h.ConsoleSize, static (w, v) => w.WriteNumberValue(v));
        WriteStrings(w, "CapAdd", h.CapAdd);
        WriteStrings(w, "CapDrop", h.CapDrop);
        w.WriteString("CgroupnsMode", h.CgroupnsMode);
        WriteStrings(w, "Dns", h.Dns);
        WriteStrings(w, "DnsOptions", h.DnsOptions);
        WriteStrings(w, "DnsSearch", h.DnsSearch);
        WriteStrings(w, "ExtraHosts", h.ExtraHosts);
        WriteStrings(w, "GroupAdd", h.GroupAdd);
        w.WriteString("IpcMode", h.IpcMode);
        w.WriteString("Cgroup", h.Cgroup);
        WriteStrings(w, "Links", h.Links);
        w.WriteNumber("OomScoreAdj", h.OomScoreAdj);
        w.WriteString("PidMode", h.PidMode);
        w.WriteBoolean("Privileged", h.Privileged);
        w.WriteBoolean("PublishAllPorts", h.PublishAllPorts);
        w.WriteBoolean("ReadonlyRootfs", h.ReadonlyRootfs);
        WriteStrings(w, "SecurityOpt", h.SecurityOpt);
        if (h.StorageOpt is not null) WriteStringMap(w, "StorageOpt", h.StorageOpt);
        if (h.Tmpfs is not null) WriteStringMap(w, "Tmpfs", h.Tmpfs);
        w.WriteString("UTSMode", h.UTSMode);
        w.WriteString("UsernsMode", h.UsernsMode);
        w.WriteNumber("ShmSize", h.ShmSize);
        if (h.Sysctls is not null) WriteStringMap(w, "Sysctls", h.Sysctls);
        w.WriteString("Runtime", h.Runtime);
        w.WriteString("Isolation", h.Isolation);
        w.WriteNumber("CpuShares", h.CpuShares);
        w.WriteNumber("Memory", h.Memory);
        w.WriteNumber("NanoCpus", h.NanoCpus);
        w.WriteString("CgroupParent", h.CgroupParent);
        w.WriteNumber("BlkioWeight", h.BlkioWeight);
        WriteList(w, "BlkioWeightDevice", h.BlkioWeightDevice, static (w, d) =>
        {
            w.WriteStartObject();
            w.WriteString("Path", d.Path);
            w.WriteNumber("Weight", d.Weight);
            w.WriteEndObject();
        });
        WriteThrottles(w, "BlkioDeviceReadBps", h.BlkioDeviceReadBps);
        WriteThrottles(w, "BlkioDeviceWriteBps", h.BlkioDeviceWriteBps);
        WriteThrottles(w, "BlkioDeviceReadIOps", h.BlkioDeviceReadIOps);
        WriteThrottles(w, "BlkioDeviceWriteIOps", h.BlkioDeviceWriteIOps);
        w.WriteNumber("CpuPeriod", h.CpuPeriod);
        w.WriteNumber("CpuQuota", h.CpuQuota);
        w.WriteNumber("CpuRealtimePeriod", h.CpuRealtimePeriod);
        w.WriteNumber("CpuRealtimeRuntime", h.CpuRealtimeRuntime);
        w.WriteString("CpusetCpus", h.CpusetCpus);
        w.WriteString("CpusetMems", h.CpusetMems);
        WriteList(w, "Devices", h.Devices, static (w, d) =>
        {
            w.WriteStartObject();
            w.WriteString("PathOnHost", d.PathOnHost);
            w.WriteString("PathInContainer", d.PathInContainer);
            w.WriteString("CgroupPermissions", d.CgroupPermissions);
            w.WriteEndObject();
        });
        WriteStrings(w, "DeviceCgroupRules", h.DeviceCgroupRules);
        w.WriteNumber("MemoryReservation", h.MemoryReservation);
        w.WriteNumber("MemorySwap", h.MemorySwap);
        WriteNullable(w, "MemorySwappiness", h.MemorySwappiness);
        w.WritePropertyName("OomKillDisable");
        if (h.OomKillDisable is { } oomKillDisable) w.WriteBooleanValue(oomKillDisable); else w.WriteNullValue();
        WriteNullable(w, "PidsLimit", h.PidsLimit);
        WriteList(w, "Ulimits", h.Ulimits, static (w, u) =>
        {
            w.WriteStartObject();
            w.WriteString("Name", u.Name);
            w.WriteNumber("Soft", u.Soft);
            w.WriteNumber("Hard", u.Hard);
            w.WriteEndObject();
        });
        w.WritePropertyName("Init");
        if (h.Init is { } init) w.WriteBooleanValue(init); else w.WriteNullValue();
        if (h.Mounts is not null)
            WriteList(w, "Mounts", h.Mounts, static (w, m) =>
            {
                w.WriteStartObject();
                w.WriteString("Type", m.Type);
                w.WriteString("Source", m.Source);
                w.WriteString("Target", m.Target);
                w.WriteBoolean("ReadOnly", m.ReadOnly);
                w.WriteString("Consistency", m.Consistency);
                w.WriteEndObject();
            });
        WriteStrings(w, "MaskedPaths", h.MaskedPaths);
        WriteStrings(w, "ReadonlyPaths", h.ReadonlyPaths);
        w.WriteEndObject();
    }

    static void WritePortBindings(Utf8JsonWriter w, Dictionary<string, List<PortBinding>?>? bindings)
    {
        if (bindings is null) { w.WriteNullValue(); return; }
        w.WriteStartObject();
        foreach (var (port, list) in bindings)
        {
            w.WritePropertyName(port);
            if (list is null) { w.WriteNullValue(); continue; }
            w.WriteStartArray();
            foreach (var b in list)
            {
                if (b is null) { w.WriteNullValue(); continue; }
                w.WriteStartObject();
                w.WriteString("HostIp", b.HostIp);
                w.WriteString("HostPort", b.HostPort);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    static void WriteNetworkingConfig(Utf8JsonWriter w, NetworkingConfig n)
    {
        w.WriteStartObject();
        w.WritePropertyName("EndpointsConfig");
        if (n.EndpointsConfig is null) w.WriteNullValue();
        else
        {
            w.WriteStartObject();
            foreach (var (network, endpoint) in n.EndpointsConfig)
            {
                w.WritePropertyName(network);
                if (endpoint is null) w.WriteNullValue();
                else WriteEndpoint(w, endpoint);
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    static void WriteEndpoint(Utf8JsonWriter w, EndpointSettings e)
    {
        w.WriteStartObject();
        w.WritePropertyName("IPAMConfig");
        if (e.IPAMConfig is null) w.WriteNullValue();
        else
        {
            w.WriteStartObject();
            w.WriteString("IPv4Address", e.IPAMConfig.IPv4Address);
            w.WriteString("IPv6Address", e.IPAMConfig.IPv6Address);
            w.WriteEndObject();
        }
        WriteStrings(w, "Links", e.Links);
        WriteStrings(w, "Aliases", e.Aliases);
        w.WriteString("NetworkID", e.NetworkID);
        w.WriteString("EndpointID", e.EndpointID);
        w.WriteString("Gateway", e.Gateway);
        w.WriteString("IPAddress", e.IPAddress);
        w.WriteNumber("IPPrefixLen", e.IPPrefixLen);
        w.WriteString("IPv6Gateway", e.IPv6Gateway);
        w.WriteString("GlobalIPv6Address", e.GlobalIPv6Address);
        w.WriteNumber("GlobalIPv6PrefixLen", e.GlobalIPv6PrefixLen);
        w.WriteString("MacAddress", e.MacAddress);
        WriteStringMap(w, "DriverOpts", e.DriverOpts);
        w.WriteEndObject();
    }

    static void WriteThrottles(Utf8JsonWriter w, string name, List<ThrottleDevice>? devices) =>
        WriteList(w, name, devices, static (w, d) =>
        {
            w.WriteStartObject();
            w.WriteString("Path", d.Path);
            w.WriteNumber("Rate", d.Rate);
            w.WriteEndObject();
        });

    static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    static void WriteStrings(Utf8JsonWriter w, string name, List<string>? values) =>
        WriteList(w, name, values, static (w, s) => w.WriteStringValue(s));

    /// <summary>A list property; null elements of reference type are written as null, as the serialiser does.</summary>
    static void WriteList<T>(Utf8JsonWriter w, string name, List<T>? values, Action<Utf8JsonWriter, T> item)
    {
        if (values is null) { w.WriteNull(name); return; }
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            if (v is null) w.WriteNullValue();
            else item(w, v);
        }
        w.WriteEndArray();
    }

    static void WriteStringMap(Utf8JsonWriter w, string name, Dictionary<string, string>? map)
    {
        if (map is null) { w.WriteNull(name); return; }
        w.WriteStartObject(name);
        foreach (var (k, v) in map) w.WriteString(k, v);
        w.WriteEndObject();
    }

    /// <summary>Docker's set-like maps (ExposedPorts, Volumes): every value is <c>{}</c>.</summary>
    static void WriteSet(Utf8JsonWriter w, string name, Dictionary<string, EmptyObject>? set)
    {
        if (set is null) { w.WriteNull(name); return; }
        w.WriteStartObject(name);
        foreach (var (k, v) in set)
        {
            w.WritePropertyName(k);
            if (v is null) w.WriteNullValue();
            else
            {
                w.WriteStartObject();
                w.WriteEndObject();
            }
        }
        w.WriteEndObject();
    }
}
