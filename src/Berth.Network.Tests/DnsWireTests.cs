using System.Buffers.Binary;
using System.Net;
using Berth.Network.Dns;

namespace Berth.Network.Tests;

public class DnsWireTests
{
    static byte[] Header(ushort id = 0x1234, ushort flags = 0x0100, int qd = 1, int an = 0, int ns = 0, int ar = 0)
    {
        var h = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(h, id);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), (ushort)qd);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(6), (ushort)an);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(8), (ushort)ns);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(10), (ushort)ar);
        return h;
    }

    [Fact]
    public void Parses_the_question_of_a_plain_query()
    {
        var msg = DnsClient.Query(0xBEEF, "Web.Example", DnsType.AAAA);

        Assert.Equal(QueryParse.Ok, DnsWire.TryParseQuery(msg, out var q));
        Assert.Equal(0xBEEF, q.Id);
        Assert.Equal("Web.Example", q.Question.Name);
        Assert.Equal(DnsType.AAAA, q.Question.Type);
        Assert.Equal(msg.Length, q.QuestionEnd);
        Assert.Equal(DnsWire.ClassicUdpSize, q.MaxUdpResponse);
    }

    [Theory]
    [InlineData(4096, 4096)]
    [InlineData(1232, 1232)]
    [InlineData(100, 512)]
    [InlineData(65000, 4096)]
    public void Takes_the_udp_size_from_an_edns_opt_record(int advertised, int expected)
    {
        Assert.Equal(QueryParse.Ok, DnsWire.TryParseQuery(DnsClient.Query(1, "a", DnsType.A, advertised), out var q));
        Assert.Equal(expected, q.MaxUdpResponse);
    }

    [Fact]
    public void Follows_a_compression_pointer_to_an_earlier_name()
    {
        // "example.com" at 12, then "www" + pointer to 12.
        byte[] msg = [.. Header(), 7, .. "example"u8, 3, .. "com"u8, 0, 3, .. "www"u8, 0xC0, 12, 0xFF];
        int offset = 12;
        Assert.True(DnsWire.TryReadName(msg, ref offset, out var first));
        Assert.Equal("example.com", first);
        Assert.True(DnsWire.TryReadName(msg, ref offset, out var second));
        Assert.Equal("www.example.com", second);
        Assert.Equal(msg.Length - 1, offset); // just past the pointer, not where it led
    }

    [Fact]
    public void Escapes_bytes_that_could_pass_for_a_label_separator()
    {
        byte[] msg = [.. Header(), 3, (byte)'a', (byte)'.', (byte)'b', 0];
        int offset = 12;
        Assert.True(DnsWire.TryReadName(msg, ref offset, out var name));
        Assert.Equal("a\\046b", name);
    }

    public static TheoryData<string, byte[]> HostileNames => new()
    {
        { "pointer to itself", [.. Header(), 0xC0, 12] },
        { "pointer forwards", [.. Header(), 0xC0, 14, 1, (byte)'a', 0] },
        { "two pointers in a loop", [.. Header(), 1, (byte)'a', 0xC0, 16, 0xC0, 12] },
        { "pointer into the header", [.. Header(), 0xC0, 2] },
        { "pointer cut in half", [.. Header(), 0xC0] },
        { "label longer than the packet", [.. Header(), 40, (byte)'a', (byte)'b'] },
        { "no terminating zero", [.. Header(), 1, (byte)'a'] },
        { "extended label type 0x40", [.. Header(), 0x41, (byte)'a', 0] },
        { "reserved label type 0x80", [.. Header(), 0x81, (byte)'a', 0] },
        { "nothing after the header", Header() },
    };

    [Theory]
    [MemberData(nameof(HostileNames))]
    public void Rejects_hostile_names(string why, byte[] msg)
    {
        int offset = 12;
        Assert.False(DnsWire.TryReadName(msg, ref offset, out _), why);
        Assert.Equal(QueryParse.FormatError, DnsWire.TryParseQuery(msg, out _));
    }

    [Fact]
    public void Rejects_a_name_longer_than_255_bytes_even_when_built_from_pointers()
    {
        // Each step adds a 63-byte label and points back at the previous name: 5 steps exceed 255.
        var msg = new List<byte>(Header());
        int previous = -1;
        for (int i = 0; i < 5; i++)
        {
            int at = msg.Count;
            msg.Add(63);
            msg.AddRange(Enumerable.Repeat((byte)'x', 63));
            if (previous < 0) msg.Add(0);
            else { msg.Add((byte)(0xC0 | (previous >> 8))); msg.Add((byte)previous); }
            previous = at;
        }
        int offset = previous;
        Assert.False(DnsWire.TryReadName(msg.ToArray(), ref offset, out _));
    }

    [Fact]
    public void Reads_a_name_of_exactly_255_bytes()
    {
        // 3 labels of 63 + one of 61 = 4*1 + 250 + root = 255 bytes.
        var name = string.Join('.', new string('a', 63), new string('b', 63), new string('c', 63), new string('d', 61));
        var msg = DnsClient.Query(1, name, DnsType.A);
        Assert.Equal(QueryParse.Ok, DnsWire.TryParseQuery(msg, out var q));
        Assert.Equal(name, q.Question.Name);
    }

    [Fact]
    public void Count_fields_larger_than_the_packet_are_a_format_error()
    {
        var msg = DnsClient.Query(1, "a", DnsType.A);
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(10), 0xFFFF); // ARCOUNT
        Assert.Equal(QueryParse.FormatError, DnsWire.TryParseQuery(msg, out _));
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(10), 0);
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(6), 3); // ANCOUNT
        Assert.Equal(QueryParse.FormatError, DnsWire.TryParseQuery(msg, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void Only_one_question_is_accepted(int questions)
    {
        var msg = DnsClient.Query(1, "a", DnsType.A);
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(4), (ushort)questions);
        Assert.Equal(QueryParse.FormatError, DnsWire.TryParseQuery(msg, out _));
    }

    [Fact]
    public void Responses_and_runts_are_dropped_and_other_opcodes_not_implemented()
    {
        var response = DnsClient.Query(1, "a", DnsType.A);
        response[2] |= 0x80;
        Assert.Equal(QueryParse.Drop, DnsWire.TryParseQuery(response, out _));
        Assert.Equal(QueryParse.Drop, DnsWire.TryParseQuery(new byte[11], out _));
        var update = DnsClient.Query(1, "a", DnsType.A);
        update[2] |= 5 << 3; // opcode UPDATE
        Assert.Equal(QueryParse.NotImplemented, DnsWire.TryParseQuery(update, out _));
    }

    [Fact]
    public void Reply_echoes_the_question_and_carries_answers_with_dockers_ttl()
    {
        var query = DnsClient.Query(0x4242, "wEb", DnsType.A);
        DnsWire.TryParseQuery(query, out var q);

        var reply = DnsClient.Parse(DnsWire.BuildReply(query, q, DnsRcode.NoError,
            [DnsRecord.For(IPAddress.Parse("10.0.0.2")), DnsRecord.For(IPAddress.Parse("10.0.0.3"))], 512));

        Assert.Equal(0x4242, reply.Id);
        Assert.Equal(DnsRcode.NoError, reply.Rcode);
        Assert.Equal("wEb", reply.QuestionName);
        Assert.True(reply.Authoritative);
        Assert.Equal(["10.0.0.2", "10.0.0.3"], reply.Answers.Select(a => a.Address!.ToString()));
        Assert.All(reply.Answers, a => Assert.Equal(600u, a.Ttl));
    }

    [Fact]
    public void Reply_that_exceeds_the_udp_size_is_cut_and_marked_truncated()
    {
        var query = DnsClient.Query(1, "many", DnsType.A);
        DnsWire.TryParseQuery(query, out var q);
        var addresses = Enumerable.Range(1, 100).Select(i => DnsRecord.For(new IPAddress([10, 0, 1, (byte)i]))).ToList();

        var bytes = DnsWire.BuildReply(query, q, DnsRcode.NoError, addresses, 512);
        var reply = DnsClient.Parse(bytes);

        Assert.True(bytes.Length <= 512);
        Assert.True(reply.Truncated);
        Assert.InRange(reply.Answers.Count, 1, 99);
    }

    [Fact]
    public void Reply_to_a_ptr_query_names_the_container()
    {
        var query = DnsClient.Query(1, "2.0.0.10.in-addr.arpa", DnsType.PTR);
        DnsWire.TryParseQuery(query, out var q);
        var reply = DnsClient.Parse(DnsWire.BuildReply(query, q, DnsRcode.NoError, [DnsRecord.Pointer("web.mynet")], 512));
        Assert.Equal("web.mynet", Assert.Single(reply.Answers).Name);
    }

    [Theory]
    [InlineData("4.3.2.1.in-addr.arpa", "1.2.3.4")]
    [InlineData("4.3.2.1.IN-ADDR.ARPA", "1.2.3.4")]
    [InlineData("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "2001:db8::1")]
    [InlineData("3.2.1.in-addr.arpa", null)]
    [InlineData("256.3.2.1.in-addr.arpa", null)]
    [InlineData("+4.3.2.1.in-addr.arpa", null)]
    [InlineData("x.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", null)]
    [InlineData("web", null)]
    public void Reverse_names_map_to_addresses(string name, string? expected)
    {
        Assert.Equal(expected, DnsWire.ParseReverseName(name)?.ToString());
    }

    [Theory]
    [InlineData("a..b")]
    [InlineData(".a")]
    [InlineData("ünicode")]
    public void Invalid_names_are_not_written(string name)
    {
        Assert.False(DnsWire.TryWriteName(new byte[300], name, out _));
    }

    [Fact]
    public void Labels_over_63_bytes_are_not_written()
    {
        Assert.False(DnsWire.TryWriteName(new byte[300], new string('a', 64), out _));
        Assert.True(DnsWire.TryWriteName(new byte[300], new string('a', 63), out int written));
        Assert.Equal(65, written);
    }

    /// <summary>
    /// Random and mutated packets through the whole answering path: each either gets no reply or
    /// a well-formed one with the query's id, and none throws.
    /// </summary>
    [Fact]
    public async Task Hostile_packet_corpus_never_crashes_the_answering_path()
    {
        var names = new FakeNames();
        names.Names[("n1", "web")] = [IPAddress.Parse("10.0.0.2")];
        await using var dns = new EmbeddedDns(names, []);
        var random = new Random(6);
        var seeds = new[]
        {
            DnsClient.Query(7, "web", DnsType.A),
            DnsClient.Query(8, "web.example", DnsType.AAAA, 4096),
            DnsClient.Query(9, "2.0.0.10.in-addr.arpa", DnsType.PTR),
        };
        for (int i = 0; i < 20_000; i++)
        {
            byte[] packet;
            if (i % 2 == 0)
            {
                packet = new byte[random.Next(0, 80)];
                random.NextBytes(packet);
                if (packet.Length > 2) packet[2] &= 0x07; // mostly queries with opcode 0, so parsing goes deep
            }
            else
            {
                packet = (byte[])seeds[random.Next(seeds.Length)].Clone();
                for (int flips = random.Next(1, 4); flips > 0; flips--) packet[random.Next(packet.Length)] = (byte)random.Next(256);
                if (random.Next(4) == 0) packet = packet[..random.Next(packet.Length)];
            }

            var reply = await dns.AnswerAsync(packet, ["n1"], null, overTcp: false, CancellationToken.None);

            if (reply is null) continue;
            Assert.True(reply.Length >= DnsWire.HeaderSize);
            Assert.Equal(DnsWire.Id(packet), DnsWire.Id(reply));
            Assert.True(DnsWire.IsResponse(reply));
        }
    }

    [Fact]
    public void Host_upstreams_come_from_nameserver_lines_loopback_included()
    {
        var path = Path.Combine(Path.GetTempPath(), "berth-resolv-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, """
            # generated
            search example.org
            nameserver 127.0.0.53
            nameserver	192.0.2.1
            nameserver 2001:db8::53
            nameserver 192.0.2.1
            nameserver not-an-address
            ; nameserver 198.51.100.1
            options edns0
            """);
        try
        {
            Assert.Equal(["127.0.0.53:53", "192.0.2.1:53", "[2001:db8::53]:53"],
                EmbeddedDns.HostUpstreams(path).Select(e => e.ToString()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Host_upstreams_are_empty_without_a_resolv_conf()
    {
        Assert.Empty(EmbeddedDns.HostUpstreams("/nonexistent/resolv.conf"));
    }
}
