using System.Net.Sockets;
using System.Text;
using Berth.Cli.Transport;

namespace Berth.Cli.Tests;

/// <summary>The HTTP client against a scripted server on a temporary unix socket.</summary>
public sealed class TransportTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("berth-cli-test").FullName;
    string SocketPath => Path.Combine(_dir, "s.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Accepts one connection, reads the request head, runs <paramref name="serve"/>.</summary>
    Task<string> ServeOnce(Func<Socket, Task> serve)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(1);
        return Task.Run(async () =>
        {
            using var _ = listener;
            using var conn = await listener.AcceptAsync();
            var head = new StringBuilder();
            var buf = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n") && await conn.ReceiveAsync(buf) == 1) head.Append((char)buf[0]);
            await serve(conn);
            return head.ToString();
        });
    }

    static Task Send(Socket s, string text) => s.SendAsync(Encoding.UTF8.GetBytes(text), SocketFlags.None);

    // Each exchange runs over both connection kinds: the runtime's async sockets and the blocking
    // unix socket that sequential commands such as run use.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chunked_body_is_decoded(bool blocking)
    {
        var server = ServeOnce(s => Send(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
        await using var conn = await DaemonEndpoint.Parse("unix://" + SocketPath).ConnectAsync(default, blocking);
        await using var resp = await HttpWire.SendAsync(conn, new RawRequest { Method = "GET", Target = "/x" }, "h");
        Assert.Equal("hello world", Encoding.UTF8.GetString(await resp.ReadBodyAsync()));
        Assert.StartsWith("GET /x HTTP/1.1\r\n", await server);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Error_status_becomes_daemon_message_and_an_older_daemon_negotiates_down(bool blocking)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(2);
        var server = Task.Run(async () =>
        {
            using var _ = listener;
            var requests = new List<string>();
            foreach (var reply in new[]
            {
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 84\r\n\r\n{\"message\":\"client version 1.43 is too new. Maximum supported API version is 1.41\"}\n",
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n{\"message\":\"No such container: x\"}\n",
            })
            {
                using var conn = await listener.AcceptAsync();
                var head = new StringBuilder();
                var buf = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n") && await conn.ReceiveAsync(buf) == 1) head.Append((char)buf[0]);
                requests.Add(head.ToString());
                await Send(conn, reply);
            }
            return requests;
        });
        var client = new DaemonClient(DaemonEndpoint.Parse("unix://" + SocketPath), sequential: blocking);
        var e = await Assert.ThrowsAsync<DaemonException>(() => client.GetBytesAsync("/containers/x/json"));
        Assert.Equal("No such container: x", e.Message);
        Assert.Equal(404, e.Status);
        var reqs = await server;
        Assert.StartsWith($"GET /v{DaemonClient.ClientMaxVersion}/containers/x/json HTTP/1.1", reqs[0]);
        Assert.StartsWith("GET /v1.41/containers/x/json HTTP/1.1", reqs[1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Hijack_sends_upgrade_headers_and_keeps_bytes_after_the_101(bool blocking)
    {
        var server = ServeOnce(async s =>
        {
            await Send(s, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly");
            var buf = new byte[16];
            int n = await s.ReceiveAsync(buf);
            await Send(s, "echo:" + Encoding.UTF8.GetString(buf, 0, n));
            // Half-close from the client arrives as EOF; output still flows afterwards.
            Assert.Equal(0, await s.ReceiveAsync(buf));
            await Send(s, ":after-eof");
            s.Shutdown(SocketShutdown.Both);
        });
        await using var conn = await DaemonEndpoint.Parse("unix://" + SocketPath).ConnectAsync(default, blocking);
        await using var resp = await HttpWire.SendAsync(conn, new RawRequest { Method = "POST", Target = "/attach", Hijack = true }, "h");
        Assert.Equal(101, resp.StatusCode);
        var stream = resp.Hijacked!;
        await stream.WriteAsync("in"u8.ToArray());
        await stream.CloseWriteAsync();
        var all = new MemoryStream();
        await stream.CopyToAsync(all);
        Assert.Equal("earlyecho:in:after-eof", Encoding.UTF8.GetString(all.ToArray()));
        var head = await server;
        Assert.Contains("Connection: Upgrade\r\n", head);
        Assert.Contains("Upgrade: tcp\r\n", head);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Unreachable_socket_reports_the_host(bool blocking)
    {
        var client = new DaemonClient(DaemonEndpoint.Parse("unix://" + SocketPath), sequential: blocking);
        var e = await Assert.ThrowsAsync<DaemonUnreachableException>(() => client.GetBytesAsync("/info"));
        Assert.Equal($"Cannot connect to the Berth daemon at unix://{SocketPath}. Is the daemon running?", e.Message);
    }

    [Fact]
    public async Task Blocking_connection_to_a_daemon_that_hung_up_fails_with_an_io_error()
    {
        // The server closes after reading the head: the rest of a large body then meets a closed
        // socket (EPIPE, never a SIGPIPE that would kill the CLI), and reading finds no response.
        var server = ServeOnce(s => Task.CompletedTask);
        await using var conn = await DaemonEndpoint.Parse("unix://" + SocketPath).ConnectAsync(default, blocking: true);
        var body = new byte[8 << 20];
        await Assert.ThrowsAsync<IOException>(() => HttpWire.SendAsync(conn, new RawRequest { Method = "POST", Target = "/x", Body = body }, "h"));
        await server;
    }

    [Fact]
    public async Task Blocking_connection_reports_a_response_cut_short()
    {
        var server = ServeOnce(s => Send(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
        await using var conn = await DaemonEndpoint.Parse("unix://" + SocketPath).ConnectAsync(default, blocking: true);
        var sending = HttpWire.SendAsync(conn, new RawRequest { Method = "GET", Target = "/x" }, "h");
        await server;
        await using var resp = await sending;
        var e = await Assert.ThrowsAsync<IOException>(() => resp.ReadBodyAsync());
        Assert.Equal("unexpected EOF in response body", e.Message);
    }

    [Fact]
    public async Task Synchronous_stream_completes_on_the_calling_thread_and_reports_failures_as_faulted_tasks()
    {
        var inner = new MemoryStream();
        var stream = new SynchronousStream(inner);
        var write = stream.WriteAsync("abc"u8.ToArray());
        Assert.True(write.IsCompletedSuccessfully);
        inner.Position = 0;
        var buf = new byte[8];
        var read = stream.ReadAsync(buf);
        Assert.True(read.IsCompletedSuccessfully);
        Assert.Equal(3, read.Result);

        // Failures come back in the task, as from a real async call, never thrown by the call itself.
        stream.Dispose();
        var failed = stream.ReadAsync(buf);
        Assert.True(failed.IsFaulted);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await failed);
        var cancelled = new SynchronousStream(new MemoryStream()).WriteAsync(buf, new CancellationToken(canceled: true));
        Assert.True(cancelled.IsCanceled);
    }

    [Theory]
    [InlineData("unix:///run/x.sock", "unix", "/run/x.sock")]
    [InlineData("tcp://127.0.0.1", "tcp", "127.0.0.1:2375")]
    [InlineData("tcp://h:2376", "tcp", "h:2376")]
    [InlineData("fd://3", "fd", "3")]
    public void Host_forms_parse(string host, string scheme, string address)
    {
        var ep = DaemonEndpoint.Parse(host);
        Assert.Equal(scheme, ep.Scheme);
        Assert.Equal(address, ep.Address);
    }
}
