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

    // Environment.TickCount64 of the latest write or hole punched since the attributes were last taken; 0 for none.
    private long _modifiedTick;

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

    /// <summary>
    /// Notes that the file's data changes (a write, a hole punched, a range zeroed): the next attributes show that
    /// time as its mtime and ctime, as a file system's would. Cheap enough for every write: a coarse clock read, and
    /// a store only once per millisecond.
    /// </summary>
    public void NoteModified()
    {
        long now = Environment.TickCount64;
        if (Volatile.Read(ref _modifiedTick) != now)
        {
            Volatile.Write(ref _modifiedTick, now);
        }
    }

    public FuseAttr Attributes()
    {
        ulong size = (ulong)Device.Size;
        lock (_lock)
        {
            long modified = Interlocked.Exchange(ref _modifiedTick, 0);
            if (modified != 0)
            {
                // The wall-clock time of that tick (millisecond resolution); never moves the times backwards.
                FuseTimestamp at = FuseTimestamp.Now().MinusMilliseconds(Environment.TickCount64 - modified);
                if (at.IsAfter(_mtime))
                {
                    _mtime = at;
                }

                if (at.IsAfter(_ctime))
                {
                    _ctime = at;
                }
            }

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
