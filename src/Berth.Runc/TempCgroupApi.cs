// TEMPORARY until main's ICgroupManager gains Processes/Freeze: delete after merging main.
using Berth.Runtime.Cgroups;
namespace Berth.Runc;
static class TempCgroupApi
{
    public static IReadOnlyList<int> Processes(this ICgroupManager c) =>
        File.ReadAllLines(Path.Combine(c.Paths[0], "cgroup.procs")).Select(int.Parse).ToList();
    public static void Freeze(this ICgroupManager c, bool frozen)
    {
        foreach (var p in c.Paths.Where(p => p.Contains("freezer"))) File.WriteAllText(Path.Combine(p, "freezer.state"), frozen ? "FROZEN" : "THAWED");
    }
}
