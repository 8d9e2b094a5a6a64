using Xunit;

namespace Berth.Daemon.Tests;

/// <summary>The runtime's confinement as the docker CLI sees it: seccomp profiles and the in-container terminal.</summary>
public sealed class SecurityTests(DaemonFixture d) : IClassFixture<DaemonFixture>
{
    // busybox's unshare reports the errno; mount(2) is refused the same way but worded by busybox as "are you root?".
    const string TryUnshare = "unshare -n true && echo unshared || echo refused";

    [Fact]
    public async Task Default_seccomp_profile_refuses_unshare_even_with_cap_sys_admin()
    {
        d.Require();
        var (code, stdout, stderr) = await d.Docker("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", TryUnshare);
        Assert.True(code == 0, stderr);
        // The profile grants unshare with CAP_SYS_ADMIN, as Docker's does.
        Assert.Equal("unshared\n", stdout);

        (code, stdout, stderr) = await d.Docker("run", "--rm", "busybox", "sh", "-c", TryUnshare);
        Assert.True(code == 0, stderr);
        Assert.Equal("refused\n", stdout);
        Assert.Contains("Operation not permitted", stderr);

        // docker info says so, as dockerd does with its built-in profile.
        var info = await d.Docker("info", "--format", "{{json .SecurityOptions}}");
        Assert.Contains("name=seccomp,profile=builtin", info.Out);
    }

    [Fact]
    public async Task Seccomp_profile_file_is_applied_and_unconfined_and_privileged_turn_it_off()
    {
        d.Require();
        var profile = Path.Combine(d.Root, "deny-mkdir.json");
        await File.WriteAllTextAsync(profile, """
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
            """, TestContext.Current.CancellationToken);
        const string script = "mkdir /tmp/x && echo made || echo refused";
        var (_, stdout, stderr) = await d.Docker("run", "--rm", "--security-opt", "seccomp=" + profile, "busybox", "sh", "-c", script);
        Assert.Equal("refused\n", stdout);
        Assert.Contains("Permission denied", stderr);

        Assert.Equal("made\n", (await d.Docker("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", script)).Out);
        Assert.Equal("unshared\n", (await d.Docker("run", "--rm", "--privileged", "busybox", "sh", "-c", TryUnshare)).Out);
    }

    [Fact]
    public async Task Invalid_seccomp_profile_is_refused_with_the_reason()
    {
        d.Require();
        var profile = Path.Combine(d.Root, "bad-profile.json");
        await File.WriteAllTextAsync(profile, """{"defaultAction": "SCMP_ACT_SOMETIMES"}""", TestContext.Current.CancellationToken);
        var (code, _, stderr) = await d.Docker("run", "--rm", "--security-opt", "seccomp=" + profile, "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("seccomp: linux.seccomp.defaultAction: unknown action \"SCMP_ACT_SOMETIMES\"", stderr);
    }

    [Fact]
    public async Task Docker_run_it_gets_a_pty_of_the_containers_own_devpts()
    {
        d.Require();
        if (!File.Exists("/usr/bin/script")) Assert.Skip("util-linux `script` is needed to give docker a terminal");
        var cmd = $"'{Tools.DockerCli}' -H {d.Host} run -it --rm busybox tty";
        var (code, stdout, stderr) = await Tools.RunAsync("script", new[] { "-qec", cmd, "/dev/null" },
            env: new() { ["DOCKER_CONFIG"] = Path.Combine(d.Root, "docker-config"), ["TERM"] = "xterm" });
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        // `script` feeds its own stdin's EOF to the terminal, which the container's pty may echo
        // (as ^@ or ^D) around tty's answer: look for the answer as a line of its own.
        var lines = stdout.Split('\n').Select(l => l.Trim().TrimStart('^', '@')).ToList();
        Assert.True(lines.Contains("/dev/pts/0"), $"no /dev/pts/0 line in: {stdout}");
    }

    [Fact]
    public async Task AppArmor_profile_or_SELinux_label_the_host_cannot_apply_is_refused_at_create()
    {
        d.Require();
        var (code, _, stderr) = await d.Docker("create", "--security-opt", "apparmor=berth-test-profile", "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("--security-opt apparmor=berth-test-profile", stderr);
        if (!Berth.Runtime.SecurityModules.AppArmorEnabled) Assert.Contains("AppArmor is not enabled on this host", stderr);

        (code, _, stderr) = await d.Docker("create", "--security-opt", "label=type:container_t", "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("--security-opt label=type:container_t", stderr);
        if (!Berth.Runtime.SecurityModules.SelinuxEnabled) Assert.Contains("SELinux is not enabled on this host", stderr);

        (code, _, stderr) = await d.Docker("create", "--security-opt", "confinement=none", "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("invalid --security-opt 2: \"confinement=none\"", stderr);

        // Asking for no confinement needs nothing from the host, as with dockerd.
        var (runCode, stdout, runErr) = await d.Docker("run", "--rm", "--security-opt", "apparmor=unconfined", "--security-opt", "label=disable", "busybox", "echo", "ran");
        Assert.True(runCode == 0, runErr);
        Assert.Equal("ran\n", stdout);
    }
}
