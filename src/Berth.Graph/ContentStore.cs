using System.Security.Cryptography;

namespace Berth.Graph;

/// <summary>
/// Content-addressed blobs under <c>root/blobs/sha256/&lt;hex&gt;</c>. A blob is written to <c>root/tmp</c>,
/// flushed to disk, checked against its digest and only then renamed into place, so a crash leaves at most
/// a stray temp file (removed by <see cref="CleanTemp"/>) and never a blob whose bytes don't match its name.
/// </summary>
public sealed class ContentStore
{
    readonly string _blobDir;
    readonly string _tmpDir;

    public ContentStore(string dataRoot)
    {
        _blobDir = System.IO.Path.Combine(dataRoot, "blobs", "sha256");
        _tmpDir = System.IO.Path.Combine(dataRoot, "tmp");
        Directory.CreateDirectory(_blobDir);
        Directory.CreateDirectory(_tmpDir);
    }

    public string TempDir => _tmpDir;

    /// <summary>Deletes temp files last written before <paramref name="before"/>: leftovers of a crashed process.</summary>
    public int CleanTemp(DateTime before)
    {
        int n = 0;
        foreach (var f in new DirectoryInfo(_tmpDir).EnumerateFileSystemInfos())
        {
            if (f.LastWriteTimeUtc >= before.ToUniversalTime()) continue;
            if (f is DirectoryInfo d) d.Delete(recursive: true); else f.Delete();
            n++;
        }
        return n;
    }

    public string PathOf(string digest) => System.IO.Path.Combine(_blobDir, Hex(digest));

    public bool Exists(string digest) => File.Exists(PathOf(digest));

    public long SizeOf(string digest) => new FileInfo(PathOf(digest)).Length;

    public Stream Open(string digest)
    {
        var path = PathOf(digest);
        if (!File.Exists(path)) throw new NotFoundException($"blob {digest} not found");
        return File.OpenRead(path);
    }

    public byte[] ReadAll(string digest) => File.Exists(PathOf(digest)) ? File.ReadAllBytes(PathOf(digest))
        : throw new NotFoundException($"blob {digest} not found");

    public void Delete(string digest) => File.Delete(PathOf(digest));

    /// <summary>Digests of every blob present (files with other names are not blobs and are skipped).</summary>
    public IEnumerable<string> List() =>
        Directory.EnumerateFiles(_blobDir).Select(f => "sha256:" + System.IO.Path.GetFileName(f))
            .Where(d => d.Length == 71 && !d.AsSpan(7).ContainsAnyExcept("0123456789abcdef"));

    public string Put(ReadOnlySpan<byte> data)
    {
        using var w = Create();
        w.Write(data);
        return w.Commit();
    }

    public BlobWriter Create() => new(this, System.IO.Path.Combine(_tmpDir, "blob-" + Guid.NewGuid().ToString("N")));

    internal void Install(string tempPath, string digest) => File.Move(tempPath, PathOf(digest), overwrite: true);

    /// <summary>
    /// Makes <paramref name="file"/> (under <see cref="TempDir"/>, whose bytes hash to <paramref name="digest"/>) a blob
    /// without copying it: fsynced, hard-linked to a temp name and renamed into place, as <see cref="BlobWriter.Commit"/> does.
    /// The caller's name for the file stays valid.
    /// </summary>
    public string Adopt(string file, string digest, string? expectedDigest)
    {
        if (expectedDigest is not null && expectedDigest != digest)
            throw new InvalidDataException($"blob digest mismatch: expected {expectedDigest}, got {digest}");
        using (var f = new FileStream(file, FileMode.Open, FileAccess.ReadWrite)) f.Flush(flushToDisk: true);
        string temp = System.IO.Path.Combine(_tmpDir, "blob-" + Guid.NewGuid().ToString("N"));
        Berth.Interop.LibC.Check(Berth.Interop.LibC.Link(file, temp), "link", file);
        try { Install(temp, digest); }
        catch
        {
            File.Delete(temp);
            throw;
        }
        return digest;
    }

    /// <summary>Validates <c>sha256:&lt;64 hex&gt;</c> and returns the hex part.</summary>
    public static string Hex(string digest)
    {
        if (!digest.StartsWith("sha256:", StringComparison.Ordinal) || digest.Length != 71 ||
            digest.AsSpan(7).ContainsAnyExcept("0123456789abcdef"))
            throw new ArgumentException($"invalid digest {digest}: expected sha256:<64 lowercase hex>");
        return digest[7..];
    }

    public static string Digest(ReadOnlySpan<byte> data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));
}

/// <summary>A blob being written: hashes as it goes; <see cref="Commit"/> makes it visible under its digest.</summary>
public sealed class BlobWriter : Stream
{
    readonly ContentStore _store;
    readonly string _tempPath;
    readonly FileStream _file;
    readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    bool _committed;

    internal BlobWriter(ContentStore store, string tempPath)
    {
        _store = store;
        _tempPath = tempPath;
        _file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
    }

    public long Written { get; private set; }

    /// <summary>fsyncs, checks <paramref name="expectedDigest"/> if given, and renames into place.</summary>
    public string Commit(string? expectedDigest = null)
    {
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        string digest = "sha256:" + Convert.ToHexStringLower(_hash.GetHashAndReset());
        if (expectedDigest is not null && expectedDigest != digest)
            throw new InvalidDataException($"blob digest mismatch: expected {expectedDigest}, got {digest}");
        _store.Install(_tempPath, digest);
        _committed = true;
        return digest;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _file.Write(buffer);
        _hash.AppendData(buffer);
        Written += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => Written;
    public override long Position { get => Written; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
            _hash.Dispose();
            if (!_committed) File.Delete(_tempPath);
        }
        base.Dispose(disposing);
    }
}
