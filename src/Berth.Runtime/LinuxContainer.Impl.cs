namespace Berth.Runtime;

public sealed partial class LinuxContainer
{
    LinuxContainer(string id, int pid) { Id = id; Pid = pid; }

    public static LinuxContainer Create(CreateOptions o) => throw new NotImplementedException();
    public void Start() => throw new NotImplementedException();
    public int WaitForExit() => throw new NotImplementedException();
    public void Signal(int signal) => throw new NotImplementedException();
    public void Destroy() => throw new NotImplementedException();
    public void Dispose() { }
}
