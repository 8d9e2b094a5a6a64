using System.Net;

namespace Berth.Network.Proxy;

/// <summary>A published port's host address is taken; the message is Docker's, which users and scripts recognise.</summary>
public sealed class PortInUseException : Exception
{
    public IPEndPoint Listen { get; }

    public PortInUseException(IPEndPoint listen, Exception? inner = null)
        : base($"Bind for {listen} failed: port is already allocated", inner)
    {
        Listen = listen;
    }
}
