using System.Runtime.InteropServices;
using System.Text;

namespace Berth.Interop;

/// <summary>
/// The btrfs subvolume ioctls (linux/btrfs.h). Each is issued on an open directory: the one that holds (or will
/// hold) the subvolume, named by a bare file name in the argument struct.
/// </summary>
public static partial class LibC
{
    public const long BTRFS_SUPER_MAGIC = 0x9123683E;

    // _IOW(0x94, nr, 4096): both argument structs are exactly 4096 bytes.
    const ulong BTRFS_IOC_SUBVOL_CREATE = 0x5000940E, BTRFS_IOC_SNAP_DESTROY = 0x5000940F, BTRFS_IOC_SNAP_CREATE_V2 = 0x50009417;

    /// <summary>struct btrfs_ioctl_vol_args: the source fd and a NUL-terminated name (BTRFS_PATH_NAME_MAX + 1).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 4096)]
    unsafe struct BtrfsVolArgs
    {
        public long Fd;
        public fixed byte Name[4088];
    }

    /// <summary>struct btrfs_ioctl_vol_args_v2: fd, transid, flags, a 32-byte union (size/qgroup), then the name.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 4096)]
    unsafe struct BtrfsVolArgsV2
    {
        public long Fd;
        public ulong TransId;
        public ulong Flags;
        public fixed ulong Unused[4];
        public fixed byte Name[4040];
    }

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int IoctlBtrfs(int fd, ulong request, void* arg);

    /// <summary>Creates an empty subvolume <paramref name="name"/> inside the directory <paramref name="parentDirFd"/>.</summary>
    public static unsafe void BtrfsSubvolCreate(int parentDirFd, string name)
    {
        var args = new BtrfsVolArgs();
        CopyName(name, new Span<byte>(args.Name, 4088));
        Check(IoctlBtrfs(parentDirFd, BTRFS_IOC_SUBVOL_CREATE, &args), "BTRFS_IOC_SUBVOL_CREATE", name);
    }

    /// <summary>Snapshots the subvolume open as <paramref name="sourceFd"/> as <paramref name="name"/> inside <paramref name="parentDirFd"/> (writable).</summary>
    public static unsafe void BtrfsSnapshotCreate(int sourceFd, int parentDirFd, string name)
    {
        var args = new BtrfsVolArgsV2 { Fd = sourceFd };
        CopyName(name, new Span<byte>(args.Name, 4040));
        Check(IoctlBtrfs(parentDirFd, BTRFS_IOC_SNAP_CREATE_V2, &args), "BTRFS_IOC_SNAP_CREATE_V2", name);
    }

    /// <summary>Deletes the subvolume <paramref name="name"/> inside <paramref name="parentDirFd"/>, contents and all.</summary>
    public static unsafe void BtrfsSubvolDestroy(int parentDirFd, string name)
    {
        var args = new BtrfsVolArgs();
        CopyName(name, new Span<byte>(args.Name, 4088));
        Check(IoctlBtrfs(parentDirFd, BTRFS_IOC_SNAP_DESTROY, &args), "BTRFS_IOC_SNAP_DESTROY", name);
    }

    static void CopyName(string name, Span<byte> dest)
    {
        // The kernel takes a single path component; the last byte stays NUL.
        if (name.Contains('/') || Encoding.UTF8.GetByteCount(name) >= dest.Length)
            throw new ArgumentException($"invalid subvolume name \"{name}\"", nameof(name));
        Encoding.UTF8.GetBytes(name, dest);
    }
}
