using System.Text;

namespace Berth.Graph.Drivers;

/// <summary>
/// Sits under <see cref="System.Formats.Tar.TarReader"/> and follows the tar block structure as bytes pass,
/// keeping the raw bytes of <c>SCHILY.xattr.*</c> PAX records. TarReader decodes PAX values as UTF-8 text,
/// which mangles binary attributes such as <c>security.capability</c>; the extractor takes the raw values
/// from here instead, keyed by entry name. If the stream ever confuses the tap, lookups simply miss.
/// </summary>
internal sealed class PaxXattrTap(Stream inner) : ReadOnlyPassThrough(inner)
{
    const string XattrKeyPrefix = "SCHILY.xattr.";
    const int MaxPaxSize = 1 << 20;

    readonly byte[] _header = new byte[512];
    int _headerFill;
    long _dataLeft, _padLeft;
    MemoryStream? _pax;
    Dictionary<string, byte[]>? _pending;
    string? _pendingPath;
    long? _pendingSize;
    readonly Dictionary<string, Dictionary<string, byte[]>> _byName = new(StringComparer.Ordinal);

    /// <summary>Raw xattr values (name without the SCHILY prefix → bytes) for the entry, removed once taken.</summary>
    public Dictionary<string, byte[]>? Take(string entryName) => _byName.Remove(entryName, out var v) ? v : null;

    protected override void OnRead(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_dataLeft > 0)
            {
                int n = (int)Math.Min(_dataLeft, data.Length);
                _pax?.Write(data[..n]);
                _dataLeft -= n;
                data = data[n..];
                if (_dataLeft == 0) EndData();
            }
            else if (_padLeft > 0)
            {
                int n = (int)Math.Min(_padLeft, data.Length);
                _padLeft -= n;
                data = data[n..];
            }
            else
            {
                int n = Math.Min(512 - _headerFill, data.Length);
                data[..n].CopyTo(_header.AsSpan(_headerFill));
                _headerFill += n;
                data = data[n..];
                if (_headerFill == 512)
                {
                    _headerFill = 0;
                    OnHeader();
                }
            }
        }
    }

    void OnHeader()
    {
        if (!_header.AsSpan().ContainsAnyExcept((byte)0)) return; // end-of-archive blocks
        byte type = _header[156];
        long size = ParseNumber(_header.AsSpan(124, 12));
        switch (type)
        {
            case (byte)'x':
                _pax = size <= MaxPaxSize ? new MemoryStream() : null;
                break;
            case (byte)'g' or (byte)'L' or (byte)'K':
                break;
            default:
                if (_pending is not null) _byName[_pendingPath ?? HeaderName()] = _pending;
                if (_pendingSize is { } s) size = s;
                if (type is not ((byte)'0' or 0 or (byte)'7')) size = 0; // only regular files carry data
                (_pending, _pendingPath, _pendingSize) = (null, null, null);
                break;
        }
        _dataLeft = size;
        _padLeft = (512 - size % 512) % 512;
        if (size == 0) EndData();
    }

    void EndData()
    {
        if (_pax is null) return;
        ParsePaxRecords(_pax.GetBuffer().AsSpan(0, (int)_pax.Length));
        _pax = null;
    }

    /// <summary>Records are <c>"&lt;len&gt; &lt;key&gt;=&lt;value&gt;\n"</c>, where len counts the whole record.</summary>
    void ParsePaxRecords(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int sp = data.IndexOf((byte)' ');
            if (sp <= 0 || !int.TryParse(data[..sp], out int len) || len <= sp + 1 || len > data.Length) return;
            var record = data[(sp + 1)..(len - 1)];
            data = data[len..];
            int eq = record.IndexOf((byte)'=');
            if (eq < 0) return;
            string key = Encoding.UTF8.GetString(record[..eq]);
            var value = record[(eq + 1)..];
            if (key.StartsWith(XattrKeyPrefix, StringComparison.Ordinal))
                (_pending ??= new())[key[XattrKeyPrefix.Length..]] = value.ToArray();
            else if (key == "path")
                _pendingPath = Encoding.UTF8.GetString(value);
            else if (key == "size" && long.TryParse(value, out long s))
                _pendingSize = s;
        }
    }

    string HeaderName()
    {
        string name = CString(_header.AsSpan(0, 100));
        bool ustar = _header.AsSpan(257, 5).SequenceEqual("ustar"u8);
        string prefix = ustar ? CString(_header.AsSpan(345, 155)) : "";
        return prefix.Length > 0 ? prefix + "/" + name : name;
    }

    static string CString(ReadOnlySpan<byte> s)
    {
        int nul = s.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? s : s[..nul]);
    }

    /// <summary>Octal text, or GNU base-256 when the high bit of the first byte is set.</summary>
    static long ParseNumber(ReadOnlySpan<byte> f)
    {
        long v = 0;
        if ((f[0] & 0x80) != 0)
        {
            v = f[0] & 0x7f;
            foreach (var b in f[1..]) v = (v << 8) | b;
            return v;
        }
        foreach (var b in f)
        {
            if (b is >= (byte)'0' and <= (byte)'7') v = v * 8 + (b - '0');
            else if (v > 0 || b is not ((byte)' ' or 0)) break;
        }
        return v;
    }
}
