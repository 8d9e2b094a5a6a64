using System.Threading.Channels;
using Berth.Shim.Client;

namespace Berth.Shim;

/// <summary>
/// Fans the container's output out to the json-file log and to every live attach stream. Each attach gets
/// its own unbounded queue, so a slow client never stalls the container or the other clients; a queue ends
/// once all output sources have reached EOF.
/// </summary>
public sealed class OutputHub(JsonFileLogWriter? log, bool tty)
{
    readonly Lock _gate = new();
    readonly List<Subscription> _subscriptions = [];
    readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    bool _ended;

    /// <summary>Completes when every output source has reached EOF and all queues have been ended.</summary>
    public Task Drained => _drained.Task;

    public sealed class Subscription
    {
        internal Subscription(bool stdout, bool stderr) { Stdout = stdout; Stderr = stderr; }
        internal bool Stdout { get; }
        internal bool Stderr { get; }
        internal Channel<byte[]> Queue { get; } = Channel.CreateUnbounded<byte[]>(new() { SingleReader = true });
        /// <summary>Already framed (non-tty) or raw (tty) bytes, ready to go on the wire.</summary>
        public ChannelReader<byte[]> Reader => Queue.Reader;
    }

    public Subscription Subscribe(bool stdout, bool stderr)
    {
        var subscription = new Subscription(stdout, stderr);
        lock (_gate)
        {
            if (_ended) subscription.Queue.Writer.TryComplete();
            else _subscriptions.Add(subscription);
        }
        return subscription;
    }

    public void Unsubscribe(Subscription subscription)
    {
        lock (_gate) _subscriptions.Remove(subscription);
        subscription.Queue.Writer.TryComplete();
    }

    public void Publish(StdStream stream, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        log?.Write(stream, data);
        byte[] wire = tty ? data.ToArray() : StdCopy.Frame(stream, data);
        lock (_gate)
        {
            foreach (var s in _subscriptions)
                if (stream == StdStream.Stderr ? s.Stderr : s.Stdout)
                    s.Queue.Writer.TryWrite(wire);
        }
    }

    /// <summary>Ends every queue; attach streams close once they have sent what was queued.</summary>
    public void End()
    {
        lock (_gate)
        {
            if (_ended) return;
            _ended = true;
            foreach (var s in _subscriptions) s.Queue.Writer.TryComplete();
            _subscriptions.Clear();
        }
        _drained.TrySetResult();
    }

    /// <summary>
    /// Copies one output source into the hub on a dedicated thread until EOF. A pty master reports EIO
    /// instead of EOF once the last slave fd closes; both mean the source is done.
    /// </summary>
    public static Task Pump(Stream source, StdStream stream, OutputHub hub) =>
        Task.Factory.StartNew(() =>
        {
            var buffer = new byte[32 * 1024];
            try
            {
                int n;
                while ((n = source.Read(buffer, 0, buffer.Length)) > 0) hub.Publish(stream, buffer.AsSpan(0, n));
            }
            catch (IOException) { }
            finally
            {
                source.Dispose();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
