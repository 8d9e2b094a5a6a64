using System.Text;
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
    public async Task Frames_demultiplex_back_into_their_streams()
    {
        var wire = new MemoryStream([.. StdCopy.Frame(StdStream.Stdout, "out"u8), .. StdCopy.Frame(StdStream.Stderr, "err"u8)]);
        var (stdout, stderr) = (new MemoryStream(), new MemoryStream());
        await Api.StdStream.DemuxAsync(wire, stdout, stderr, TestContext.Current.CancellationToken);
        Assert.Equal("out", Encoding.UTF8.GetString(stdout.ToArray()));
        Assert.Equal("err", Encoding.UTF8.GetString(stderr.ToArray()));
    }
}
