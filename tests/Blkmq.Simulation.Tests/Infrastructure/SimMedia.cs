namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// The simulated disk's storage: durable sectors and a volatile write cache over them. A write lands in the cache
/// (or, with FUA, on the durable sectors); a flush writes the cache back; a power cut keeps or loses each cached
/// sector by the seed, so a multi-sector write may tear at sector boundaries. A sector is the unit of atomicity.
/// </summary>
internal sealed class SimMedia
{
    public const int SectorSize = 512;

    private readonly byte[] _durable;
    private readonly byte[] _cache;
    private readonly bool[] _dirty;

    public SimMedia(int sectors)
    {
        Sectors = sectors;
        _durable = new byte[sectors * SectorSize];
        _cache = new byte[sectors * SectorSize];
        _dirty = new bool[sectors];
    }

    public int Sectors { get; }

    public bool PoweredOn { get; private set; } = true;

    public void Read(long sector, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length / SectorSize; i++)
        {
            long s = sector + i;
            byte[] source = _dirty[s] ? _cache : _durable;
            source.AsSpan((int)(s * SectorSize), SectorSize).CopyTo(destination.Slice(i * SectorSize, SectorSize));
        }
    }

    public void WriteSector(long sector, ReadOnlySpan<byte> data, bool fua)
    {
        if (fua)
        {
            data.CopyTo(_durable.AsSpan((int)(sector * SectorSize), SectorSize));
            _dirty[sector] = false;
        }
        else
        {
            data.CopyTo(_cache.AsSpan((int)(sector * SectorSize), SectorSize));
            _dirty[sector] = true;
        }
    }

    public void Flush()
    {
        for (int s = 0; s < Sectors; s++)
        {
            if (_dirty[s])
            {
                _cache.AsSpan(s * SectorSize, SectorSize).CopyTo(_durable.AsSpan(s * SectorSize, SectorSize));
                _dirty[s] = false;
            }
        }
    }

    /// <summary>Cuts the power: each cached sector reaches the durable sectors or is lost, by the seed.</summary>
    public int Crash(SimRandom random)
    {
        int kept = 0;
        for (int s = 0; s < Sectors; s++)
        {
            if (_dirty[s])
            {
                if (random.Next(2) == 0)
                {
                    _cache.AsSpan(s * SectorSize, SectorSize).CopyTo(_durable.AsSpan(s * SectorSize, SectorSize));
                    kept++;
                }

                _dirty[s] = false;
            }
        }

        PoweredOn = false;
        return kept;
    }

    public void PowerOn() => PoweredOn = true;
}
