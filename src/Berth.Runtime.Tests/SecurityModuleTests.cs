using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>
/// AppArmor profiles and SELinux labels in a spec: berth-runc applies neither yet, so it refuses
/// a spec that names one, with the reason, before anything starts; asking for no confinement is fine.
/// </summary>
[Collection(TestRuntime.ChildProcesses)]
public sealed class SecurityModuleTests : IDisposable
{
    readonly string runc;
    readonly DirectoryInfo bundle;
    readonly string id = "lsm" + Guid.NewGuid().ToString("N")[..10];

    public SecurityModuleTests()
    {
        runc = TestRuntime.RequireRunc();
        bundle = TestRuntime.NewBundle(["sh", "echo", "sleep", "true"]);
    }

    public void Dispose()
    {
        Sh($"$R delete -f {id}");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(bundle.FullName));
        bundle.Delete(recursive: true);
    }

    (int Code, string Out, string Err) Sh(string script) =>
        TestRuntime.Bash(script, new Dictionary<string, string> { ["R"] = $"{runc} --root {bundle.FullName}/state" }, bundle.FullName);

    void WriteSpec(Action<Spec> change)
    {
        var spec = DefaultSpec.Create(["sh", "-c", "echo ran"]);
        change(spec);
        spec.Save(Path.Combine(bundle.FullName, "config.json"));
    }

    [Theory]
    [InlineData("apparmor", "process.apparmorProfile \"berth-test-profile\"")]
    [InlineData("selinux", "process.selinuxLabel \"system_u:system_r:container_t:s0\"")]
    [InlineData("mountlabel", "linux.mountLabel \"system_u:object_r:container_file_t:s0\"")]
    public void Spec_with_a_label_the_host_cannot_apply_fails_before_the_process_starts(string module, string field)
    {
        WriteSpec(s =>
        {
            if (module == "apparmor") s.Process!.ApparmorProfile = "berth-test-profile";
            else if (module == "selinux") s.Process!.SelinuxLabel = "system_u:system_r:container_t:s0";
            else s.Linux!.MountLabel = "system_u:object_r:container_file_t:s0";
        });
        var (code, output, err) = Sh($"$R run {id} < /dev/null");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains(field, err);
        var enabled = module == "apparmor" ? SecurityModules.AppArmorEnabled : SecurityModules.SelinuxEnabled;
        Assert.Contains(enabled ? "does not apply" : "is not enabled on this host", err);
        Assert.Equal(1, Sh($"$R state {id}").Code);
    }

    [Fact]
    public void Unconfined_apparmor_profile_runs()
    {
        WriteSpec(s => s.Process!.ApparmorProfile = "unconfined");
        var (code, output, err) = Sh($"$R run {id} < /dev/null");
        Assert.True(code == 0, err);
        Assert.Equal("ran\n", output);
    }

    [Fact]
    public void Exec_with_an_apparmor_profile_or_label_is_refused()
    {
        WriteSpec(s => s.Process!.Args = ["sleep", "100"]);
        Assert.Equal(0, Sh($"$R run -d {id} > /dev/null 2>&1 < /dev/null").Code);
        var (code, _, err) = Sh($"$R exec --apparmor berth-test-profile {id} true < /dev/null");
        Assert.Equal(1, code);
        Assert.Contains("process.apparmorProfile \"berth-test-profile\"", err);
        (code, _, err) = Sh($"$R exec --process-label system_u:system_r:container_t:s0 {id} true < /dev/null");
        Assert.Equal(1, code);
        Assert.Contains("process.selinuxLabel", err);
        Assert.Equal(0, Sh($"$R exec {id} true < /dev/null").Code);
    }
}
