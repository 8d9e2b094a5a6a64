namespace Berth.Shim.Client;

/// <summary>Stream ids of Docker's multiplexed framing, typed for the shim's output path.</summary>
public enum StdStream : byte
{
    Stdout = Api.StdStream.Stdout,
    Stderr = Api.StdStream.Stderr,
}

/// <summary>Frames non-tty container output for attach streams (the format is defined in <see cref="Api.StdStream"/>).</summary>
public static class StdCopy
{
    /// <summary>One frame as a single buffer, so it goes out with one write and frames never interleave.</summary>
    public static byte[] Frame(StdStream stream, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[Api.StdStream.HeaderSize + payload.Length];
        Api.StdStream.WriteHeader(frame, (byte)stream, payload.Length);
        payload.CopyTo(frame.AsSpan(Api.StdStream.HeaderSize));
        return frame;
    }
}
