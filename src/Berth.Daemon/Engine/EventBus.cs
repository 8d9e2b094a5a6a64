using System.Threading.Channels;
using Berth.Api;

namespace Berth.Daemon.Engine;

/// <summary>
/// Container, image and daemon events for <c>GET /events</c>. Keeps a bounded history so
/// <c>--since</c> can replay, and fans new events out to every subscriber.
/// </summary>
public sealed class EventBus
{
    const int HistorySize = 1024;
    readonly LinkedList<EventMessage> _history = new();
    readonly List<Channel<EventMessage>> _subscribers = new();
    readonly object _lock = new();

    public int Listeners { get { lock (_lock) return _subscribers.Count; } }

    public void Publish(string type, string action, string id, Dictionary<string, string>? attributes = null)
    {
        var now = DateTimeOffset.UtcNow;
        long nanos = (now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        var msg = new EventMessage
        {
            Type = type,
            Action = action,
            Actor = new EventActor { ID = id, Attributes = attributes ?? new() },
            Time = nanos / 1_000_000_000,
            TimeNano = nanos,
        };
        // The legacy fields that older clients read.
        if (type is "container" or "image")
        {
            msg.Status = action;
            msg.Id = id;
            if (type == "container" && attributes is not null && attributes.TryGetValue("image", out var image)) msg.From = image;
        }
        lock (_lock)
        {
            _history.AddLast(msg);
            if (_history.Count > HistorySize) _history.RemoveFirst();
            foreach (var ch in _subscribers) ch.Writer.TryWrite(msg);
        }
    }

    /// <summary>Subscribes; returns the past events at or after <paramref name="since"/> and a live channel.</summary>
    public (List<EventMessage> past, Channel<EventMessage> live) Subscribe(DateTimeOffset? since)
    {
        var ch = Channel.CreateBounded<EventMessage>(new BoundedChannelOptions(4096) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_lock)
        {
            var past = since is null ? new List<EventMessage>()
                : _history.Where(e => e.TimeNano >= (since.Value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100).ToList();
            _subscribers.Add(ch);
            return (past, ch);
        }
    }

    public void Unsubscribe(Channel<EventMessage> ch)
    {
        lock (_lock) _subscribers.Remove(ch);
        ch.Writer.TryComplete();
    }
}
