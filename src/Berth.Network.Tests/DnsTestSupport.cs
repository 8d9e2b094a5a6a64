using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Berth.Interop;
using Berth.Network.Dns;

namespace Berth.Network.Tests;

/// <summary>Building queries and reading replies the way a stub resolver would.</summary>
static class DnsClient
{
    public static byte[] Query(ushort id, string name, DnsType type, int ednsSize = 0)
    {
        var buffer = new byte[DnsWire.HeaderSize + DnsWire.MaxNameLength + 4 + 11];
        BinaryPrimitives.WriteUInt16BigEndian(buffer, id);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), 0x0100); // RD
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(4), 1);
        Assert.True(DnsWire.TryWriteName(buffer.AsSpan(DnsWire.HeaderSize), name, out int nameLength));
        int at = DnsWire.HeaderSize + nameLength;
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at), (ushort)type);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at + 2), 1);
        at += 4;
        if (ednsSize > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(10), 1);
            buffer[at] = 0; // root owner
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at + 1), (ushort)DnsType.OPT);
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at + 3), (ushort)ednsSize);
            at += 11; // TTL and RDLENGTH stay zero
        }
        return buffer.AsSpan(0, at).ToArray();
    }

    public sealed record Answer(DnsType Type, uint Ttl, IPAddress? Address, string? Name);

    public sealed record Reply(ushort Id, DnsRcode Rcode, bool Truncated, bool Authoritative, string? QuestionName, List<Answer> Answers);

    public static Reply Parse(byte[] msg)
    {
        Assert.True(msg.Length >= DnsWire.HeaderSize, "reply shorter than a header");
        Assert.True(DnsWire.IsResponse(msg), "QR not set");
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(msg.AsSpan(2));
        int qd = BinaryPrimitives.ReadUInt16BigEndian(msg.AsSpan(4));
        int an = BinaryPrimitives.ReadUInt16BigEndian(msg.AsSpan(6));
        int offset = DnsWire.HeaderSize;
        string? question = null;
        for (int i = 0; i < qd; i++)
        {
            Assert.True(DnsWire.TryReadName(msg, ref offset, out var name));
            question = name;
            offset += 4;
        }
        var answers = new List<Answer>();
        for (int i = 0; i < an; i++)
        {
            Assert.True(DnsWire.TryReadName(msg, ref offset, out _));
            var type = (DnsType)BinaryPrimitives.ReadUInt16BigEndian(msg.AsSpan(offset));
            uint ttl = BinaryPrimitives.ReadUInt32BigEndian(msg.AsSpan(offset + 4));
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(msg.AsSpan(offset + 8));
            int rdata = offset + 10;
            offset = rdata + rdLength;
            Assert.True(offset <= msg.Length, "record overruns the message");
            if (type is DnsType.A or DnsType.AAAA) answers.Add(new(type, ttl, new IPAddress(msg.AsSpan(rdata, rdLength)), null));
            else
            {
                int at = rdata;
                Assert.True(DnsWire.TryReadName(msg, ref at, out var target));
                answers.Add(new(type, ttl, null, target));
            }
        }
        return new(DnsWire.Id(msg), DnsWire.Rcode(msg), DnsWire.IsTruncated(msg), (flags & 0x0400) != 0, question, answers);
    }
}

/// <summary>A table of names per network, standing in for the networkdriver's.</summary>
sealed class FakeNames : IDnsNames
{
    public Dictionary<(string Network, string Name), IPAddress[]> Names { get; } = new();
    public Dictionary<(string Network, IPAddress Address), string> Reverse { get; } = new();

    public IReadOnlyList<IPAddress>? Lookup(string networkId, string name) =>
        Names.TryGetValue((networkId, name), out var addresses) ? addresses : null;

    public string? ReverseLookup(string networkId, IPAddress address) =>
        Reverse.TryGetValue((networkId, address), out var name) ? name : null;
}

/// <summary>
/// A resolver on 127.0.0.1 (UDP and TCP on the same random port) that answers every A query with
/// 192.0.2.7. Names starting with "big" get a truncated UDP reply and 40 addresses over TCP.
/// </summary>
sealed class FakeUpstream : IAsyncDisposable
{
    public static readonly IPAddress Answer = IPAddress.Parse("192.0.2.7");
    readonly Socket udp, tcp;
    readonly CancellationTokenSource stop = new();
    readonly Task udpLoop, tcpLoop;
    int udpQueries, tcpQueries;

    public IPEndPoint EndPoint { get; }
    public int UdpQueries => Volatile.Read(ref udpQueries);
    public int TcpQueries => Volatile.Read(ref tcpQueries);

    public FakeUpstream()
    {
        for (int attempt = 0; ; attempt++)
        {
            udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(udp.LocalEndPoint!);
                break;
            }
            catch (SocketException) when (attempt < 20)
            {
                udp.Dispose();
                tcp.Dispose();
            }
        }
        tcp.Listen(16);
        EndPoint = (IPEndPoint)udp.LocalEndPoint!;
        udpLoop = ServeUdpAsync();
        tcpLoop = ServeTcpAsync();
    }

    static byte[] Reply(byte[] query, bool overTcp)
    {
        Assert.Equal(QueryParse.Ok, DnsWire.TryParseQuery(query, out var q));
        bool big = q.Question.Name.StartsWith("big", StringComparison.OrdinalIgnoreCase);
        var answers = Enumerable.Range(0, big ? 40 : 1)
            .Select(i => DnsRecord.For(big ? new IPAddress([192, 0, 2, (byte)(10 + i)]) : Answer))
            .ToList();
        return DnsWire.BuildReply(query, q, DnsRcode.NoError, answers, overTcp ? 65535 : DnsWire.ClassicUdpSize, authoritative: false);
    }

    async Task ServeUdpAsync()
    {
        var buffer = new byte[65535];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var r = await udp.ReceiveFromAsync(buffer, SocketFlags.None, any, stop.Token);
                Interlocked.Increment(ref udpQueries);
                await udp.SendToAsync(Reply(buffer.AsSpan(0, r.ReceivedBytes).ToArray(), overTcp: false), SocketFlags.None, r.RemoteEndPoint);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    async Task ServeTcpAsync()
    {
        try
        {
            while (true)
            {
                using var client = await tcp.AcceptAsync(stop.Token);
                await using var stream = new NetworkStream(client);
                var query = await DnsTcp.ReadMessageAsync(stream, stop.Token);
                if (query is null) continue;
                Interlocked.Increment(ref tcpQueries);
                await DnsTcp.WriteMessageAsync(stream, Reply(query, overTcp: true), stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException or IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        udp.Dispose();
        tcp.Dispose();
        await Task.WhenAll(udpLoop, tcpLoop);
    }
}

/// <summary>A network namespace of the test's own (berth-t-&lt;random&gt;) with lo up; removed on dispose.</summary>
sealed class TestNetns : IDisposable
{
    public string Name { get; } = "berth-t-" + Guid.NewGuid().ToString("N")[..8];
    public string Path => "/run/netns/" + Name;

    TestNetns() { }

    public static TestNetns Create()
    {
        if (LibC.geteuid() != 0) Assert.Skip("creating a network namespace needs root");
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip")) Assert.Skip("iproute2 (`ip`) is not installed");
        var ns = new TestNetns();
        Run("ip", "netns", "add", ns.Name);
        try
        {
            ns.Exec("ip", "link", "set", "lo", "up");
        }
        catch
        {
            ns.Dispose();
            throw;
        }
        return ns;
    }

    /// <summary>Runs a command inside the namespace and returns its output; throws on a non-zero exit.</summary>
    public string Exec(params string[] command) => Run(["ip", "netns", "exec", Name, .. command]);

    /// <summary>Like <see cref="Exec"/>, but returns exit code and output whatever happened.</summary>
    public (int Exit, string Output) TryExec(params string[] command) => RunUnchecked(["ip", "netns", "exec", Name, .. command]);

    /// <summary>A UDP or TCP exchange from a socket opened inside the namespace.</summary>
    public T InNamespace<T>(Func<T> action) => NetworkNamespace.Run(Path, action);

    static string Run(params string[] command)
    {
        var (exit, output) = RunUnchecked(command);
        if (exit != 0) throw new InvalidOperationException($"{string.Join(' ', command)} exited {exit}: {output}");
        return output;
    }

    static (int, string) RunUnchecked(string[] command)
    {
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in command[1..]) psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(30_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} did not finish");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    public void Dispose() => RunUnchecked(["ip", "netns", "del", Name]);
}
