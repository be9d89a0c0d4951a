using Blkmq.Frontend;
using Blkmq.Fuse.Interop;

namespace Blkmq.Fuse;

/// <summary>
/// One file of the mount: its node id, name, export (the disk served now, replaceable after a power cycle) and the
/// attributes the kernel may change (mode, owner, times), kept under a lock of its own. The size is always the disk's.
/// </summary>
internal sealed class FuseNode
{
    private readonly Lock _lock = new();
    private uint _mode;
    private uint _uid;
    private uint _gid;
    private FuseTimestamp _atime;
    private FuseTimestamp _mtime;
    private FuseTimestamp _ctime;

    public FuseNode(ulong id, FuseFile file, uint uid, uint gid)
    {
        Id = id;
        NameUtf8 = System.Text.Encoding.UTF8.GetBytes(file.Name);
        Export = new BlockExport(file.Name, file.Disk, file.ReadOnly);
        _mode = ReadOnly ? 0x124u /* 0444 */ : 0x1A4u /* 0644 */;
        _uid = uid;
        _gid = gid;
        _atime = _mtime = _ctime = FuseTimestamp.Now();
    }

    public ulong Id { get; }

    public byte[] NameUtf8 { get; }

    /// <summary>Gets the export: each request serves the disk of its current <see cref="BlockExport.Target"/>.</summary>
    public BlockExport Export { get; }

    /// <summary>Gets the device of the disk served now.</summary>
    public BlockDevice Device => Export.Target.Device;

    /// <summary>Gets whether the file refuses writes: configured so, or its disk is read-only (now).</summary>
    public bool ReadOnly => Export.Target.IsReadOnly;

    /// <summary>Applies the changes of a <c>SETATTR</c> other than the size.</summary>
    public void Change(in FuseSetAttrIn change)
    {
        lock (_lock)
        {
            FuseTimestamp now = FuseTimestamp.Now();
            if ((change.Valid & FuseProtocol.AttrMode) != 0)
            {
                _mode = change.Mode & 0xFFF;
            }

            if ((change.Valid & FuseProtocol.AttrUid) != 0)
            {
                _uid = change.Uid;
            }

            if ((change.Valid & FuseProtocol.AttrGid) != 0)
            {
                _gid = change.Gid;
            }

            if ((change.Valid & FuseProtocol.AttrAtime) != 0)
            {
                _atime = (change.Valid & FuseProtocol.AttrAtimeNow) != 0 ? now : new FuseTimestamp(change.Atime, change.AtimeNsec);
            }

            if ((change.Valid & FuseProtocol.AttrMtime) != 0)
            {
                _mtime = (change.Valid & FuseProtocol.AttrMtimeNow) != 0 ? now : new FuseTimestamp(change.Mtime, change.MtimeNsec);
            }

            _ctime = now;
        }
    }

    public FuseAttr Attributes()
    {
        ulong size = (ulong)Device.Size;
        lock (_lock)
        {
            return new FuseAttr
            {
                Ino = Id,
                Size = size,
                Blocks = size / 512,
                Atime = _atime.Seconds,
                AtimeNsec = _atime.Nanoseconds,
                Mtime = _mtime.Seconds,
                MtimeNsec = _mtime.Nanoseconds,
                Ctime = _ctime.Seconds,
                CtimeNsec = _ctime.Nanoseconds,
                Mode = FuseProtocol.ModeRegular | _mode,
                Nlink = 1,
                Uid = _uid,
                Gid = _gid,
                BlockSize = (uint)Math.Max(4096, Device.PhysicalBlockSize),
            };
        }
    }
}
