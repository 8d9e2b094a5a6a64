using Berth.Shim.Client;

namespace Berth.Shim.Tests;

public class StdCopyTests
{
    [Fact]
    public void Frame_has_stream_byte_zero_padding_and_big_endian_length()
    {
        var frame = StdCopy.Frame(StdStream.Stderr, "hi\n"u8);
        Assert.Equal(new byte[] { 2, 0, 0, 0, 0, 0, 0, 3, (byte)'h', (byte)'i', (byte)'\n' }, frame);
    }

    [Fact]
    public void Frame_length_uses_all_four_bytes()
    {
        var frame = StdCopy.Frame(StdStream.Stdout, new byte[0x010203]);
        Assert.Equal(new byte[] { 1, 0, 0, 0, 0x00, 0x01, 0x02, 0x03 }, frame[..8]);
    }

    [Fact]
    public async Task ReadFrame_round_trips_frames_and_returns_null_at_eof()
    {
        var stream = new MemoryStream([.. StdCopy.Frame(StdStream.Stdout, "out"u8), .. StdCopy.Frame(StdStream.Stderr, "err"u8)]);
        var first = await StdCopy.ReadFrameAsync(stream, TestContext.Current.CancellationToken);
        var second = await StdCopy.ReadFrameAsync(stream, TestContext.Current.CancellationToken);
        Assert.Equal(StdStream.Stdout, first!.Value.Stream);
        Assert.Equal("out"u8.ToArray(), first.Value.Payload);
        Assert.Equal(StdStream.Stderr, second!.Value.Stream);
        Assert.Equal("err"u8.ToArray(), second.Value.Payload);
        Assert.Null(await StdCopy.ReadFrameAsync(stream, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ReadFrame_rejects_unknown_stream_type()
    {
        var stream = new MemoryStream([7, 0, 0, 0, 0, 0, 0, 1, 65]);
        await Assert.ThrowsAsync<InvalidDataException>(() => StdCopy.ReadFrameAsync(stream, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ReadFrame_rejects_truncated_payload()
    {
        var stream = new MemoryStream([1, 0, 0, 0, 0, 0, 0, 5, 65]);
        await Assert.ThrowsAsync<EndOfStreamException>(() => StdCopy.ReadFrameAsync(stream, TestContext.Current.CancellationToken));
    }
}
