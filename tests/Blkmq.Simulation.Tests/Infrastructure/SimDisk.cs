namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// The simulated device behind <see cref="SimDriver"/>: it ends requests inside <c>QueueRq</c>, through the
/// completion context, or later from a scheduler event (a device interrupt, a foreign thread), with latencies,
/// spikes past the request timeout, errors, busy refusals, exceptions, duplicate ends and power cuts as the seed
/// says. It also checks the core's side of the contract as a driver sees it (a second end refused, a stale token
/// finds nothing) and records what it finds in <see cref="Violations"/>.
/// </summary>
internal sealed class SimDisk
{
    private readonly SimScheduler _scheduler;
    private readonly SimRandom _random;
    private readonly Dictionary<ulong, long> _pending = [];
    private readonly Queue<RequestToken> _ended = new();
    private byte[] _bounce = new byte[64 * 1024];

    public SimDisk(SimScheduler scheduler, SimMedia media, SimFaults faults, SimRandom random)
    {
        _scheduler = scheduler;
        Media = media;
        Faults = faults;
        _random = random;
    }

    public SimMedia Media { get; }

    public SimFaults Faults { get; }

    /// <summary>Gets or sets the tag set, for token lookups; set once, right after the tag set is made.</summary>
    public TagSet<SimDriver, SimRequest, SimQueue, SimDisk>? TagSet { get; set; }

    public List<string> Violations { get; } = [];

    /// <summary>Gets how many requests the driver ended (or completed) itself.</summary>
    public long DriverEnds { get; private set; }

    internal BlockStatus QueueRq(Request<SimRequest> request)
    {
        _scheduler.CheckThread("QueueRq");
        request.Data = default;
        if (!Media.PoweredOn)
        {
            End(request, BlockStatus.IoError, EndOptions.None);
            return BlockStatus.Ok;
        }

        if (_random.Chance(Faults.Busy))
        {
            _scheduler.Trace("busy");
            _scheduler.Count("fault: busy");
            return _random.Next(2) == 0 ? BlockStatus.Busy : BlockStatus.ResourceBusy;
        }

        if (_random.Chance(Faults.Throw))
        {
            _scheduler.Trace("QueueRq throws");
            _scheduler.Count("fault: QueueRq throws");
            throw new IOException("injected driver exception");
        }

        request.Data.TimeoutAnswer = _random.Chance(Faults.ResetTimer) ? TimeoutAction.ResetTimer
            : _random.Chance(Faults.WillEnd) ? TimeoutAction.WillEnd : TimeoutAction.Done;
        double mode = _random.NextDouble();
        if (mode < Faults.Inline)
        {
            _scheduler.Count("driver: end inside QueueRq");
            End(request, Apply(request), EndOptions.None);
        }
        else if (mode < Faults.Inline + Faults.SoftIrq)
        {
            _scheduler.Count("driver: Complete inside QueueRq");
            DriverEnds++;
            request.Complete(Apply(request));
        }
        else
        {
            long latency = _random.Chance(Faults.Spike) ? _random.Next(1_000_000, 40_000_000) : _random.Next(Faults.LatencyMin, Faults.LatencyMax);
            bool viaComplete = _random.Chance(Faults.LateComplete);
            EndOptions options = _random.Next(4) == 0 ? EndOptions.RunContinuationInline : EndOptions.None;
            RequestToken token = request.Token;
            _pending[token.Value] = _scheduler.Now + latency;
            _scheduler.At(_scheduler.Now + latency, () => FinishLater(token, viaComplete, options), "device completion");
        }

        return BlockStatus.Ok;
    }

    internal void Complete(Request<SimRequest> request)
    {
        _scheduler.CheckThread("Complete");
        End(request, request.CompletionStatus, EndOptions.None, counted: true);
    }

    internal TimeoutAction Timeout(Request<SimRequest> request)
    {
        _scheduler.CheckThread("Timeout");
        ref SimRequest data = ref request.Data;
        TimeoutAction answer = data.TimeoutAnswer;
        if (answer == TimeoutAction.ResetTimer && ++data.Resets > 2)
        {
            answer = TimeoutAction.Done;
        }

        if (answer == TimeoutAction.WillEnd && !_pending.ContainsKey(request.Token.Value))
        {
            // Nothing of ours will end it (it was never handed to the device): the block layer may.
            answer = TimeoutAction.Done;
        }

        _scheduler.Trace($"timeout {request.Op} -> {answer}");
        _scheduler.Count($"driver Timeout -> {answer}");
        return answer;
    }

    /// <summary>Cuts the power: the media keeps or loses unflushed sectors, and every IO the device holds fails.</summary>
    public void Crash(SimRandom random)
    {
        int kept = Media.Crash(random);
        _scheduler.Trace($"power cut, {kept} cached sectors kept, {_pending.Count} IOs failed");
        foreach (ulong value in _pending.Keys.Order().ToArray())
        {
            if (TagSet!.TryGetRequest(new RequestToken(value), out Request<SimRequest> request))
            {
                End(request, BlockStatus.IoError, EndOptions.None);
            }
        }

        _pending.Clear();
    }

    private void FinishLater(RequestToken token, bool viaComplete, EndOptions options)
    {
        ProbeStaleToken();
        if (!_pending.Remove(token.Value))
        {
            return;
        }

        if (!TagSet!.TryGetRequest(token, out Request<SimRequest> request))
        {
            // Timed out and ended by the block layer (Done): the driver promised not to touch the buffers.
            _scheduler.Trace("device completion after the block layer ended the request");
            _scheduler.Count("device completion after a timeout ended it");
            return;
        }

        BlockStatus status = Media.PoweredOn ? Apply(request) : BlockStatus.IoError;
        if (viaComplete)
        {
            DriverEnds++;
            _scheduler.Count("driver: Complete from the device");
            if (!request.TryComplete(status))
            {
                Violations.Add($"TryComplete refused a request the driver owns ({token})");
            }
        }
        else
        {
            _scheduler.Count(options == EndOptions.RunContinuationInline ? "driver: End from the device, continuation inline" : "driver: End from the device");
            End(request, status, options);
        }
    }

    private void End(Request<SimRequest> request, BlockStatus status, EndOptions options, bool counted = false)
    {
        RequestToken token = request.Token;
        if (!counted)
        {
            DriverEnds++;
        }

        if (!request.TryEnd(status, options))
        {
            Violations.Add($"TryEnd refused a request the driver owns ({token})");
            return;
        }

        _ended.Enqueue(token);
        if (_ended.Count > 16)
        {
            _ended.Dequeue();
        }

        if (_random.Chance(Faults.DuplicateEnd))
        {
            _scheduler.Trace("duplicate end");
            _scheduler.Count("fault: duplicate end");
            if (request.TryEnd(BlockStatus.Ok) || request.TryComplete(BlockStatus.Ok))
            {
                Violations.Add($"a second end of {token} was accepted");
            }

            if (request.IsOwned)
            {
                Violations.Add($"the handle of {token} is still owned after its end");
            }
        }
    }

    private void ProbeStaleToken()
    {
        if (_ended.Count > 0 && _random.Next(8) == 0)
        {
            RequestToken stale = _ended.Peek();
            if (TagSet!.TryGetRequest(stale, out _))
            {
                Violations.Add($"an ended request's token {stale} found a request");
            }
        }
    }

    private BlockStatus Apply(Request<SimRequest> request)
    {
        RequestOp op = request.Op;
        long sector = request.Sector;
        int length = request.Length;
        bool fua = (request.Flags & RequestFlags.Fua) != 0;
        switch (op)
        {
            case RequestOp.Read:
            {
                if (_random.Chance(Faults.ReadError))
                {
                    _scheduler.Trace("read error");
                    _scheduler.Count("fault: read error");
                    return BlockStatus.IoError;
                }

                Span<byte> data = Bounce(length);
                Media.Read(sector, data);
                int offset = 0;
                foreach (Memory<byte> segment in request.Segments)
                {
                    for (int i = 0; i < segment.Length / SimMedia.SectorSize; i++)
                    {
                        long s = sector + ((offset + (i * SimMedia.SectorSize)) / SimMedia.SectorSize);
                        if (Faults.SkipReadData && s % 64 == 0)
                        {
                            continue;
                        }

                        data.Slice(offset + (i * SimMedia.SectorSize), SimMedia.SectorSize).CopyTo(segment.Span.Slice(i * SimMedia.SectorSize, SimMedia.SectorSize));
                    }

                    offset += segment.Length;
                }

                return BlockStatus.Ok;
            }

            case RequestOp.Write:
            {
                Span<byte> data = Bounce(length);
                int offset = 0;
                foreach (Memory<byte> segment in request.Segments)
                {
                    segment.Span.CopyTo(data[offset..]);
                    offset += segment.Length;
                }

                return WriteSectors(sector, length / SimMedia.SectorSize, data, fua);
            }

            case RequestOp.Discard:
            case RequestOp.WriteZeroes:
            {
                Span<byte> zeroes = Bounce(length);
                zeroes.Clear();
                return WriteSectors(sector, length / SimMedia.SectorSize, zeroes, fua);
            }

            case RequestOp.Flush:
                if (!Faults.LieAboutFlush)
                {
                    Media.Flush();
                }

                return BlockStatus.Ok;
            default:
                return BlockStatus.NotSupported;
        }
    }

    private BlockStatus WriteSectors(long sector, int count, ReadOnlySpan<byte> data, bool fua)
    {
        if (_random.Chance(Faults.WriteError))
        {
            bool partial = _random.Chance(Faults.PartialWrite);
            _scheduler.Trace(partial ? "write error, some sectors written" : "write error");
            _scheduler.Count(partial ? "fault: torn failed write" : "fault: write error");
            for (int i = 0; partial && i < count; i++)
            {
                if (_random.Next(2) == 0)
                {
                    Media.WriteSector(sector + i, data.Slice(i * SimMedia.SectorSize, SimMedia.SectorSize), fua);
                }
            }

            return BlockStatus.IoError;
        }

        for (int i = 0; i < count; i++)
        {
            Media.WriteSector(sector + i, data.Slice(i * SimMedia.SectorSize, SimMedia.SectorSize), fua);
        }

        return BlockStatus.Ok;
    }

    private Span<byte> Bounce(int length)
    {
        if (_bounce.Length < length)
        {
            _bounce = new byte[length];
        }

        return _bounce.AsSpan(0, length);
    }
}
