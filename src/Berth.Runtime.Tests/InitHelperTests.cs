using Berth.Interop;
using Berth.Runtime.Init;
using Xunit;

namespace Berth.Runtime.Tests;

public class InitHelperTests
{
    [Fact]
    public void Mount_options_split_into_flags_propagation_and_data()
    {
        var o = MountOptions.Parse(["nosuid", "ro", "rbind", "size=64k", "rslave", "mode=755"], null);
        Assert.True(o.Bind);
        Assert.Equal(LibC.MS_NOSUID | LibC.MS_RDONLY | LibC.MS_REC, o.Flags);
        Assert.Equal(LibC.MS_SLAVE | LibC.MS_REC, o.Propagation);
        Assert.Equal("size=64k,mode=755", o.Data);
        Assert.Equal(0UL, MountOptions.Parse(["ro", "rw"], "tmpfs").Flags & LibC.MS_RDONLY);
    }

    [Fact]
    public void Secure_join_keeps_symlinks_and_dotdot_inside_the_root()
    {
        var root = Directory.CreateTempSubdirectory("berth-securejoin-");
        try
        {
            Directory.CreateDirectory(Path.Combine(root.FullName, "etc"));
            File.CreateSymbolicLink(Path.Combine(root.FullName, "abs"), "/etc");
            File.CreateSymbolicLink(Path.Combine(root.FullName, "up"), "../../../..");
            var r = root.FullName;
            Assert.Equal(r + "/etc/passwd", PathResolver.SecureJoin(r, "/abs/passwd"));
            Assert.Equal(r + "/x", PathResolver.SecureJoin(r, "/up/x"));
            Assert.Equal(r + "/y", PathResolver.SecureJoin(r, "../../y"));
            Assert.Equal(r, PathResolver.SecureJoin(r, "/"));
        }
        finally { root.Delete(recursive: true); }
    }

    [Fact]
    public void Look_path_reports_a_missing_command_like_runc()
    {
        var e = Assert.Throws<RuntimeException>(() => PathResolver.LookPath("berth-no-such-command", ["PATH=/bin:/usr/bin"]));
        Assert.Equal("exec: \"berth-no-such-command\": executable file not found in $PATH", e.Message);
        Assert.Equal("/bin/sh", PathResolver.LookPath("sh", ["PATH=/bin"]));
    }

    [Fact]
    public void Capability_names_map_to_bits_and_are_limited_to_what_is_obtainable()
    {
        Assert.Equal((1UL << 0) | (1UL << 21), Credentials.Mask(["CAP_CHOWN", "CAP_SYS_ADMIN"], ulong.MaxValue));
        Assert.Equal(1UL << 0, Credentials.Mask(["CAP_CHOWN", "CAP_SYS_RESOURCE"], ~(1UL << 24)));
        Assert.Throws<RuntimeException>(() => Credentials.Mask(["CAP_BOGUS"], ulong.MaxValue));
    }
}
