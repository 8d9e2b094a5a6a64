using System.Text;

namespace Berth.Graph.Drivers;

/// <summary>
/// The write-side twin of <see cref="PaxXattrTap"/>: lets binary xattr values (security.capability, say) travel in
/// PAX records although System.Formats.Tar's writer only takes strings. The entry is written with an ASCII
/// placeholder of the value's exact byte length, so every PAX record length stays right, and this stream puts the
/// real bytes in place as the extended header passes through. TarWriter emits that header (built in memory) in a
/// single write before the entry's own header and data, so a record is never split across writes.
/// </summary>
internal sealed class BinaryXattrPatch(Stream inner) : Stream
{
    readonly List<(byte[] Key, byte[] Value)> _pending = [];

    /// <summary>The placeholder to put in the entry's PAX dictionary; the next entry written must carry it.</summary>
    public string Expect(string xattrName, byte[] value)
    {
        // Records are "<len> <key>=<value>\n"; the leading space and trailing '=' make the key match unambiguous.
        _pending.Add((Encoding.UTF8.GetBytes($" SCHILY.xattr.{xattrName}="), value));
        return new string('x', value.Length);
    }

    /// <summary>Called after the entry is written: a placeholder that never passed would corrupt the layer silently.</summary>
    public void CheckPatched()
    {
        if (_pending.Count > 0)
            throw new InvalidOperationException($"binary xattr {Encoding.UTF8.GetString(_pending[0].Key).Trim()} was not found in the PAX header");
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_pending.Count == 0)
        {
            inner.Write(buffer);
            return;
        }
        byte[] copy = buffer.ToArray();
        for (int i = _pending.Count - 1; i >= 0; i--)
        {
            var (key, value) = _pending[i];
            int at = copy.AsSpan().IndexOf(key);
            if (at < 0 || at + key.Length + value.Length > copy.Length) continue;
            value.CopyTo(copy, at + key.Length);
            _pending.RemoveAt(i);
        }
        inner.Write(copy);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
