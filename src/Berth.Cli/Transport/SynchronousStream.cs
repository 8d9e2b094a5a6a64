namespace Berth.Cli.Transport;

/// <summary>
/// Runs a stream's async methods as blocking calls on the caller's thread, returning completed
/// tasks. The CLI wraps its console streams in one (their own async methods queue every write to
/// the thread pool, which starts a worker thread just to print) and, for commands whose requests
/// are strictly one after another, the daemon connection too: then a whole <c>run</c> happens on
/// the main thread, with no socket engine thread, no pool workers and none of their spinning
/// competing with the daemon and the container for the CPUs. Failures are returned as faulted
/// tasks, as a real async call would, never thrown from the call itself.
/// </summary>
public sealed class SynchronousStream(Stream inner) : Stream
{
    public Stream Inner => inner;

    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void SetLength(long value) => inner.SetLength(value);
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<int>(cancellationToken);
        try
        {
            return new ValueTask<int>(inner.Read(buffer.Span));
        }
        catch (Exception e) { return ValueTask.FromException<int>(e); }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        try
        {
            inner.Write(buffer.Span);
            return default;
        }
        catch (Exception e) { return ValueTask.FromException(e); }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
        try
        {
            inner.Flush();
            return Task.CompletedTask;
        }
        catch (Exception e) { return Task.FromException(e); }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
