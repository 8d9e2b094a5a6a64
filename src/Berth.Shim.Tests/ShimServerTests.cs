using System.Net.Sockets;
using System.Text;
using Berth.Shim.Client;

namespace Berth.Shim.Tests;

/// <summary>The socket protocol against a fake container: no root or runtime needed.</summary>
public sealed class ShimServerTests : IAsyncDisposable
{
    sealed class FakeContainer : IContainerTask
    {
        public int Pid => 4242;
        public bool Tty { get; init; }
        public int Starts;
        public List<int> Signals { get; } = [];
        public MemoryStream StdinBytes { get; } = new();
        public bool StdinClosed;
        public Stream? Stdin => StdinClosed ? null : StdinBytes;
        public void Start() => Starts++;
        public void Signal(int signal) { lock (Signals) Signals.Add(signal); }
        public void Resize(int height, int width) { if (!Tty) throw new InvalidOperationException("container has no terminal"); }
        public void CloseStdin() => StdinClosed = true;
    }

    readonly string _dir = Directory.CreateTempSubdirectory("berth-shim-srv-").FullName;
    readonly FakeContainer _container = new();
    readonly OutputHub _hub = new(log: null, tty: false);
    readonly ShimServer _server;
    readonly Task _serving;
    readonly ShimClient _client;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ShimServerTests()
    {
        var socket = Path.Combine(_dir, "s");
        _server = new ShimServer(_container, _hub, _ => { });
        _serving = _server.ServeAsync(ShimServer.Listen(socket));
        _client = new ShimClient(socket);
    }

    public async ValueTask DisposeAsync()
    {
        _hub.End();
        _server.StopAccepting();
        await _serving;
        Directory.Delete(_dir, recursive: true);
    }

    async Task<string> RawRequest(byte[] request)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_client.SocketPath), Ct);
        using var stream = new NetworkStream(socket);
        await stream.WriteAsync(request, Ct);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync(Ct);
    }

    [Fact]
    public void Socket_is_private_to_its_owner()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_client.SocketPath));
    }

    [Theory]
    [InlineData("not json\n")]
    [InlineData("{\"op\":\n")]
    [InlineData("null\n")]
    [InlineData("{\"op\":\"start\",\"signal\":\"x\"}\n")]
    public async Task Malformed_request_gets_error_reply_and_connection_closes(string request)
    {
        var reply = await RawRequest(Encoding.UTF8.GetBytes(request)).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.StartsWith("{\"ok\":false,\"error\":\"bad request", reply);
        Assert.EndsWith("\n", reply);
        Assert.Equal(0, _container.Starts);
    }

    [Fact]
    public async Task Oversized_request_line_is_refused_and_server_keeps_serving()
    {
        // The shim closes with our excess bytes unread, so the kernel may reset the connection before the
        // error reply arrives; either way the request must not be executed and the shim must survive.
        try
        {
            var reply = await RawRequest([.. "{\"op\":\"start\",\"x\":\""u8, .. new byte[ShimWire.MaxLineBytes + 10]]).WaitAsync(TimeSpan.FromSeconds(10), Ct);
            Assert.StartsWith("{\"ok\":false", reply);
        }
        catch (IOException) { }
        Assert.Equal(0, _container.Starts);
        Assert.Equal(ShimStatus.Created, (await _client.StateAsync(Ct)).Status);
    }

    [Fact]
    public async Task Unknown_op_is_an_error_and_server_keeps_serving()
    {
        var reply = await RawRequest("{\"op\":\"explode\"}\n"u8.ToArray());
        Assert.Contains("unknown op", reply);
        Assert.Equal(ShimStatus.Created, (await _client.StateAsync(Ct)).Status);
    }

    [Fact]
    public async Task Start_runs_once_and_state_follows_the_lifecycle()
    {
        Assert.Equal(4242, (await _client.StateAsync(Ct)).Pid);
        await _client.StartAsync(Ct);
        Assert.Equal(ShimStatus.Running, (await _client.StateAsync(Ct)).Status);
        var again = await Assert.ThrowsAsync<ShimException>(() => _client.StartAsync(Ct));
        Assert.Contains("running", again.Message);
        Assert.Equal(1, _container.Starts);

        _server.Exited(new ExitInfo { ExitCode = 3, FinishedAt = DateTime.UtcNow });
        var state = await _client.StateAsync(Ct);
        Assert.Equal(ShimStatus.Exited, state.Status);
        Assert.Equal(3, state.ExitCode);
    }

    [Fact]
    public async Task Wait_blocks_until_exit_and_later_waits_answer_at_once()
    {
        var waiting = _client.WaitAsync(Ct);
        await Task.Delay(100, Ct);
        Assert.False(waiting.IsCompleted);
        var finished = new DateTime(2024, 5, 1, 10, 0, 0, DateTimeKind.Utc);
        _server.Exited(new ExitInfo { ExitCode = 137, FinishedAt = finished });
        var info = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(137, info.ExitCode);
        Assert.Equal(finished, info.FinishedAt);
        Assert.Equal(137, (await _client.WaitAsync(Ct)).ExitCode);
    }

    [Fact]
    public async Task Kill_forwards_signal_and_rejects_invalid_numbers()
    {
        await _client.KillAsync(15, Ct);
        Assert.Equal([15], _container.Signals);
        await Assert.ThrowsAsync<ShimException>(() => _client.KillAsync(0, Ct));
        await Assert.ThrowsAsync<ShimException>(() => _client.KillAsync(99, Ct));
    }

    [Fact]
    public async Task Resize_without_terminal_is_an_error()
    {
        var e = await Assert.ThrowsAsync<ShimException>(() => _client.ResizeAsync(24, 80, Ct));
        Assert.Contains("terminal", e.Message);
    }

    [Fact]
    public async Task Attach_streams_framed_output_to_every_client_and_closes_after_end()
    {
        using var both = await _client.AttachAsync(stdin: false, stdout: true, stderr: true, closeStdinOnEof: false, Ct);
        using var errOnly = await _client.AttachAsync(stdin: false, stdout: false, stderr: true, closeStdinOnEof: false, Ct);
        _hub.Publish(StdStream.Stdout, "hello\n"u8);
        _hub.Publish(StdStream.Stderr, "oops\n"u8);
        _hub.End();

        Assert.Equal(("hello\n", "oops\n"), await ReadDemuxed(both));
        Assert.Equal(("", "oops\n"), await ReadDemuxed(errOnly));
    }

    [Fact]
    public async Task Attach_feeds_stdin_and_half_close_closes_it()
    {
        using var attach = await _client.AttachAsync(stdin: true, stdout: true, stderr: true, closeStdinOnEof: true, Ct);
        await attach.WriteAsync("input"u8.ToArray(), Ct);
        attach.CloseWrite();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!_container.StdinClosed && DateTime.UtcNow < deadline) await Task.Delay(10, Ct);
        Assert.True(_container.StdinClosed);
        Assert.Equal("input", Encoding.UTF8.GetString(_container.StdinBytes.ToArray()));

        // Output keeps flowing after stdin EOF.
        _hub.Publish(StdStream.Stdout, "still here\n"u8);
        _hub.End();
        Assert.Equal(("still here\n", ""), await ReadDemuxed(attach));
    }

    [Fact]
    public async Task Connecting_to_a_missing_shim_throws_ShimUnavailable()
    {
        var client = new ShimClient(Path.Combine(_dir, "nobody-here"));
        await Assert.ThrowsAsync<ShimUnavailableException>(() => client.StateAsync(Ct));
    }

    static async Task<(string Stdout, string Stderr)> ReadDemuxed(Stream stream)
    {
        var (stdout, stderr) = (new MemoryStream(), new MemoryStream());
        await Api.StdStream.DemuxAsync(stream, stdout, stderr, Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        return (Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }
}
