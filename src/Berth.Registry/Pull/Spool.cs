namespace Berth.Registry.Pull;

/// <summary>
/// A blob being downloaded into a temp file that its reader consumes while it grows. The download side
/// can drop its connection and resume with a Range request; the reader (layer extraction) never sees the
/// break. Spools let every layer download at once while extraction still goes parent-first: layer k's
/// extraction starts as soon as layer k-1 is in, reading whatever of layer k has arrived.
/// </summary>
sealed class Spool : IDisposable
{
    readonly FileStream _file;
    readonly Lock _lock = new();
    TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    long _written;
    bool _done;
    Exception? _error;

    public Spool(string dir)
    {
        Directory.CreateDirectory(dir);
        Path = System.IO.Path.Combine(dir, "pull-" + Guid.NewGuid().ToString("N"));
        // Unbuffered, so every appended chunk is visible to the reader's own handle at once.
        _file = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 0, FileOptions.Asynchronous);
    }

    public string Path { get; }
    public long Written => Interlocked.Read(ref _written);
    public bool Succeeded { get { lock (_lock) return _done && _error is null; } }

    public async ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await _file.WriteAsync(data, ct).ConfigureAwait(false);
        Interlocked.Add(ref _written, data.Length);
        Signal();
    }

    public void Complete(Exception? error)
    {
        lock (_lock)
        {
            _done = true;
            _error = error;
        }
        Signal();
    }

    void Signal()
    {
        TaskCompletionSource old;
        lock (_lock)
        {
            old = _signal;
            _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        old.TrySetResult();
    }

    (Task Next, bool Done, Exception? Error) State()
    {
        lock (_lock) return (_signal.Task, _done, _error);
    }

    public Stream OpenReader() => new Reader(this);

    public void Dispose()
    {
        _file.Dispose();
        try { File.Delete(Path); } catch (IOException) { }
    }

    sealed class Reader(Spool spool) : Stream
    {
        readonly FileStream _in = new(spool.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.Asynchronous);
        long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            while (true)
            {
                // Take the signal before looking, so an append between the look and the wait still wakes us.
                var (next, done, error) = spool.State();
                long available = spool.Written - _position;
                if (available > 0)
                {
                    int n = await _in.ReadAsync(buffer[..(int)Math.Min(buffer.Length, available)], ct).ConfigureAwait(false);
                    _position += n;
                    if (n > 0) return n;
                }
                if (done)
                {
                    if (error is not null) throw new IOException(error.Message, error);
                    if (spool.Written - _position <= 0) return 0;
                    continue;
                }
                await next.WaitAsync(ct).ConfigureAwait(false);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _in.Dispose();
            base.Dispose(disposing);
        }
    }
}
