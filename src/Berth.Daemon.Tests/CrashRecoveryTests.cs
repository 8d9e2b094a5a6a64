using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>berthd killed with SIGKILL while containers exist, then started again.</summary>
public sealed class CrashRecoveryTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task After_sigkill_and_restart_everything_is_listed_and_states_are_true()
    {
        d.Require();
        Assert.Equal(0, (await d.Berth("run", "-d", "--name", "survivor", "busybox", "sleep", "1000")).Code);
        Assert.Equal(0, (await d.Berth("run", "-d", "--name", "dies-meanwhile", "busybox", "sh", "-c", "sleep 2; exit 7")).Code);
        Assert.Equal(2, (await d.Berth("run", "--name", "already-exited", "busybox", "sh", "-c", "exit 2")).Code);
        Assert.Equal(0, (await d.Berth("create", "--name", "never-started", "busybox")).Code);

        await d.CrashDaemonAsync();
        await Task.Delay(3000); // dies-meanwhile exits while nobody watches
        await d.StartDaemonAsync();

        var (_, all, _) = await d.Berth("ps", "-a", "--format", "{{.Names}}|{{.Status}}");
        var rows = all.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(r => r.Split('|')[0], r => r.Split('|')[1]);
        Assert.StartsWith("Up ", rows["survivor"]);
        Assert.StartsWith("Exited (7)", rows["dies-meanwhile"]);
        Assert.StartsWith("Exited (2)", rows["already-exited"]);
        Assert.Equal("Created", rows["never-started"]);
        var (_, images, _) = await d.Berth("images", "--format", "{{.Repository}}:{{.Tag}}");
        Assert.Contains("busybox:latest", images);

        // The survivor is still under control: it stops, and a new container runs.
        Assert.Equal(0, (await d.Berth("stop", "-t", "1", "survivor")).Code);
        var (_, code, _) = await d.Berth("inspect", "-f", "{{.State.ExitCode}}", "survivor");
        Assert.Equal("137", code.Trim());
        var (runCode, hello, _) = await d.Berth("run", "--rm", "busybox", "echo", "after-crash");
        Assert.Equal(0, runCode);
        Assert.Equal("after-crash\n", hello);

        foreach (var n in new[] { "survivor", "dies-meanwhile", "already-exited", "never-started" })
            Assert.Equal(0, (await d.Berth("rm", n)).Code);
        Assert.Empty(Tools.MountsUnder(d.DataRoot));
    }

    [Fact]
    public async Task A_removal_cut_short_by_a_crash_is_finished_at_the_next_start()
    {
        d.Require();
        // rm answers once the record is gone and deletes the directories after; a crash in between
        // leaves a container directory without a record, as made here by hand.
        await d.CrashDaemonAsync();
        var orphan = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var dir = Path.Combine(d.DataRoot, "containers", orphan);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "hostname"), "orphan\n");
        await d.StartDaemonAsync();

        Assert.False(Directory.Exists(dir), "the orphaned container directory is still there");
        var (code, output, _) = await d.Berth("run", "--rm", "busybox", "echo", "still-fine");
        Assert.Equal((0, "still-fine\n"), (code, output));
    }

    [Fact]
    public async Task Two_daemons_run_side_by_side_on_their_own_roots()
    {
        d.Require();
        var other = new DaemonFixture();
        try
        {
            await other.InitializeAsync();
            var (c1, o1, _) = await d.Berth("run", "--rm", "busybox", "echo", "one");
            var (c2, o2, _) = await other.Berth("run", "--rm", "busybox", "echo", "two");
            Assert.Equal((0, "one\n"), (c1, o1));
            Assert.Equal((0, "two\n"), (c2, o2));
            Assert.NotEqual(d.Socket, other.Socket);
        }
        finally
        {
            await other.DisposeAsync();
        }
    }
}
