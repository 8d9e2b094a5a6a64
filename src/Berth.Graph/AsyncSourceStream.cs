using System.Threading.Channels;

namespace Berth.Graph;

/// <summary>
/// Lets the synchronous extraction pipeline read from a source that only allows async reads (an ASP.NET
/// Core request body, where synchronous IO is disallowed): a pump copies the source asynchronously into a
/// small bounded channel, and <see cref="Read(Span{byte})"/> blocks on that channel from a worker thread.
/// At most <c>capacity × chunk</c> bytes are in flight, so a layer is never buffered whole.
/// </summary>
internal sealed class AsyncSourceStream : ReadOnlyPassThrough
{
    const int ChunkSize = 1 << 16;
    readonly Channel<ReadOnlyMemory<byte>> _chunks = Channel.CreateBounded<ReadOnlyMemory<byte>>(16);
    readonly CancellationToken _ct;
    ReadOnlyMemory<byte> _current;

    public AsyncSourceStream(Stream source, CancellationToken ct) : base(source)
    {
        _ct = ct;
        Pump = PumpAsync();
    }

    /// <summary>
    /// Runs the synchronous <paramref name="work"/> on a worker thread, reading <paramref name="source"/> through
    /// an <see cref="AsyncSourceStream"/>; returns once both the work and the pump have finished.
    /// </summary>
    public static async Task<T> RunAsync<T>(Stream source, Func<Stream, T> work, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var stream = new AsyncSourceStream(source, cts.Token);
        try
        {
            return await Task.Run(() => work(stream), CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            await stream.Pump.ConfigureAwait(false);
        }
    }

    /// <summary>Completes when the source is exhausted, fails or is cancelled; a failure surfaces in <see cref="Read(Span{byte})"/>.</summary>
    public Task Pump { get; }

    async Task PumpAsync()
    {
        try
        {
            while (true)
            {
                var buf = new byte[ChunkSize];
                int n = await Inner.ReadAsync(buf, _ct).ConfigureAwait(false);
                if (n == 0) break;
                await _chunks.Writer.WriteAsync(buf.AsMemory(0, n), _ct).ConfigureAwait(false);
            }
            _chunks.Writer.Complete();
        }
        catch (Exception e)
        {
            _chunks.Writer.Complete(e);
        }
    }

    public override int Read(Span<byte> buffer)
    {
        while (_current.IsEmpty)
        {
            if (!_chunks.Reader.WaitToReadAsync(_ct).AsTask().GetAwaiter().GetResult())
            {
                if (_chunks.Reader.Completion.IsFaulted) _chunks.Reader.Completion.GetAwaiter().GetResult();
                return 0;
            }
            _chunks.Reader.TryRead(out _current);
        }
        int n = Math.Min(buffer.Length, _current.Length);
        _current.Span[..n].CopyTo(buffer);
        _current = _current[n..];
        return n;
    }

    protected override void OnRead(ReadOnlySpan<byte> data) { }
}
