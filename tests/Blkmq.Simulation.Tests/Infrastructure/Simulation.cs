using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Blkmq.Drivers.Null;
using Blkmq.Frontend;

namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// One seeded run of the whole stack: a workload of reads, writes (some FUA), flushes, discards and write-zeroes
/// through the shared front-end layer (<see cref="BlockExport"/>, its read-buffer policy and errno mapping) and
/// <see cref="BlockDevice"/>, the real core (tag set, hardware queue, completion context, requeue, timeout scan,
/// statistics) with its thread-pool work and clock handed to <see cref="SimScheduler"/>, and the fault-injecting
/// <see cref="SimDisk"/> under it. The invariants are checked after every step; power cuts are followed by a read
/// of the whole disk checked against what may survive one.
/// </summary>
internal sealed class Simulation
{
    public const string ReplayCommand = "dotnet tests/Blkmq.Simulation.Tests/bin/Release/net10.0/Blkmq.Simulation.Tests.dll -method Blkmq.Simulation.Tests.SimulationReplayTests.Replay_SeedFromEnvironment -noColor";

    private const int DiskSectors = 256;
    private const int MaxIoSectors = 16;
    private const long MaxSteps = 3_000_000;

    private readonly SimulationOptions _options;
    private readonly SimScheduler _scheduler;
    private readonly SimRandom _random;
    private readonly SimFaults _faults;
    private readonly NullBlock? _nullBlock;
    private readonly TagSetCore _tagSet;
    private readonly Target[] _targets;
    private readonly int _sectors;
    private readonly DiskModel _model;
    private readonly Dictionary<long, SimIo> _outstanding = [];
    private readonly Dictionary<int, Stack<byte[]>> _buffers = [];
    private readonly SortedSet<int> _crashPoints = [];
    private readonly Queue<long> _verifyQueue = new();
    private readonly long[] _observed;
    private readonly int _cap;
    private readonly long _stuckLimit;
    private readonly string _config;


    private long _nextId = 1;
    private int _issued;
    private bool _recovering;
    private bool _verifying;
    private bool _finalCrash;
    private int _crashes;
    private long _errors;
    private long _timeouts;
    private string? _failure;

    private Simulation(SimulationOptions options)
    {
        _options = options;
        var root = new SimRandom(options.Seed);
        _scheduler = new SimScheduler(root.Fork()) { RecentLimit = options.TraceLines, Observer = options.Observer };
        _random = root.Fork();
        SimFaults picked = SimFaults.Pick(root.Fork());
        _faults = options.Faults ?? picked;
        SimRandom config = root.Fork();
        int depth = 1 << config.Next(6);
        bool blocking = config.Next(3) == 0;
        var timeout = TimeSpan.FromMilliseconds(config.Next(5, 30));
        // Up to twice the depth: submitters then wait for tags, woken in FIFO order as requests end.
        _cap = (int)config.Next(1, (2 * depth) + 1);
        bool useNull = options.Faults is null && config.Next(3) == 0;

        // One disk, or two sharing the tag set (shared tags): each sector of the model belongs to one of them.
        int diskCount = (int)config.Next(1, 3);
        _sectors = DiskSectors * diskCount;
        _model = new DiskModel(_sectors);
        _observed = new long[_sectors];
        _targets = new Target[diskCount];
        _stuckLimit = (timeout.Ticks * 100 * 5) + 100_000_000;
        for (int i = 0; i < _faults.Crashes; i++)
        {
            _crashPoints.Add((int)config.Next(1, options.Operations));
        }

        var time = new SimTimeProvider(_scheduler);
        if (useNull)
        {
            // The real null driver (memory backed, a write-back cache whose power cut loses what is not written back),
            // ending inline or through the completion context; its timer mode runs a thread of its own, not simulated.
            _faults = new SimFaults { Crashes = _faults.Crashes };
            var nullOptions = new NullBlockOptions
            {
                Size = DiskSectors * SimMedia.SectorSize,
                NrDevices = diskCount,
                SharedTags = true,
                MemoryBacked = true,
                CacheSize = 4096L << config.Next(5),
                Discard = true,
                MaxSectors = MaxIoSectors,
                HwQueueDepth = depth,
                Blocking = blocking,
                IrqMode = config.Next(2) == 0 ? IrqMode.None : IrqMode.SoftIrq,
                RequestTimeout = timeout,
                TimeProvider = time,
            };
            _nullBlock = NullBlock.Create(nullOptions);
            _tagSet = _nullBlock.TagSets[0];
            foreach (TagSetCore tagSet in _nullBlock.TagSets)
            {
                tagSet.WorkScheduler = _scheduler;
            }

            for (int i = 0; i < diskCount; i++)
            {
                _targets[i] = new Target(_nullBlock.Disks[i], null);
            }

            _config = $"{diskCount} null disks (irqmode {nullOptions.IrqMode}, cache {nullOptions.CacheSize} bytes), depth {depth}, {_cap} in flight at most, timeout {timeout.TotalMilliseconds} ms{(blocking ? ", blocking" : string.Empty)}, {_faults.Crashes} power cuts";
        }
        else
        {
            _config = $"{diskCount} sim disks, depth {depth}, {_cap} in flight at most, timeout {timeout.TotalMilliseconds} ms{(blocking ? ", blocking" : string.Empty)}, faults {_faults}";
            var tagSetOptions = new TagSetOptions
            {
                QueueDepth = depth,
                RequestTimeout = timeout,
                Blocking = blocking,
                TimeProvider = time,
            };
            var tagSet = new TagSet<SimDriver, SimRequest, SimQueue, SimDisk>(default, tagSetOptions) { WorkScheduler = _scheduler };
            _tagSet = tagSet;
            for (int i = 0; i < diskCount; i++)
            {
                var simDisk = new SimDisk(_scheduler, new SimMedia(DiskSectors), _faults, root.Fork()) { TagSet = tagSet };
                Disk disk = tagSet.AddDisk(simDisk, new DiskOptions
                {
                    Name = $"sim{i}",
                    Capacity = DiskSectors * SimMedia.SectorSize,
                    WriteCache = true,
                    Fua = true,
                    ReadsFillBuffers = true,
                    Limits = new QueueLimits { MaxSectors = MaxIoSectors, MaxDiscardSectors = MaxIoSectors, MaxWriteZeroesSectors = MaxIoSectors },
                });
                _targets[i] = new Target(disk, simDisk);
            }
        }

        _scheduler.Count(useNull ? "run: null driver" : "run: sim disk");
        _scheduler.Count(diskCount > 1 ? "run: two disks sharing tags" : "run: one disk");
        if (blocking)
        {
            _scheduler.Count("run: blocking");
        }
    }

    private bool Finished => _finalCrash && !_recovering && _outstanding.Count == 0;

    /// <summary>Runs one seed to its end or its first failed invariant.</summary>
    public static SimulationResult Run(SimulationOptions options)
    {
        using var pin = new ProcessorPin();
        var simulation = new Simulation(options);
        return simulation.RunCore();
    }

    private SimulationResult RunCore()
    {
        try
        {
            _scheduler.At(0, Arrive, "arrival");
            while (_failure is null && !Finished)
            {
                if (!_scheduler.Step())
                {
                    Fail($"nothing left to run with {_outstanding.Count} IOs outstanding: a lost completion");
                    break;
                }

                CheckInvariants();
                if (_scheduler.Steps > MaxSteps)
                {
                    Fail($"no end after {MaxSteps} steps");
                }
            }
        }
        catch (SimulationFailure)
        {
            // Fail recorded it.
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            _failure ??= Report($"unexpected exception: {exception}");
        }

        if (_failure is null)
        {
            // All IO has ended: removal drains nothing and finishes at once.
            Task removal = _nullBlock is not null ? _nullBlock.DisposeAsync().AsTask() : _tagSet.DisposeAsync().AsTask();
            if (!removal.Wait(TimeSpan.FromSeconds(30)))
            {
                _failure = Report("removing the disk after the run did not finish");
            }
        }

        return new SimulationResult
        {
            Seed = _options.Seed,
            TraceHash = _scheduler.TraceHash,
            Steps = _scheduler.Steps,
            VirtualNanoseconds = _scheduler.Now,
            Ios = _nextId - 1,
            Errors = _errors,
            Crashes = _crashes,
            Timeouts = _timeouts,
            Failure = _failure,
            Counters = _scheduler.Counters,
        };
    }

    private void Arrive()
    {
        if (_recovering)
        {
            Recover();
        }
        else if (_issued < _options.Operations)
        {
            if (_crashPoints.Count > 0 && _issued >= _crashPoints.Min)
            {
                _crashPoints.Remove(_crashPoints.Min);
                Crash();
            }
            else if (_outstanding.Count < _cap)
            {
                _issued++;
                if (_cap - _outstanding.Count >= 2 && _random.Next(10) == 0)
                {
                    SubmitBatch();
                }
                else
                {
                    SubmitRandom();
                }
            }
        }
        else if (_outstanding.Count == 0)
        {
            // The end of every run: a power cut with whatever is unflushed, then the check of what survived.
            _finalCrash = true;
            Crash();
            Recover();
        }

        if (!Finished)
        {
            _scheduler.At(_scheduler.Now + _random.Next(0, 50_000), Arrive, "arrival");
        }
    }

    private void Crash()
    {
        _crashes++;
        _scheduler.Count("power cut");
        _recovering = true;
        for (int i = 0; i < _targets.Length; i++)
        {
            if (_targets[i].SimDisk is { } simDisk)
            {
                simDisk.Crash(_random);
            }
            else
            {
                _scheduler.Trace($"power cut, {_nullBlock!.Devices[i].CachedBytes} cached bytes lost");
                _nullBlock.PowerCut(i);
            }
        }
    }

    private void Recover()
    {
        if (!_verifying)
        {
            if (_outstanding.Count > 0)
            {
                return;
            }

            foreach (Target target in _targets)
            {
                target.SimDisk?.Media.PowerOn();
            }

            _verifying = true;
            Array.Fill(_observed, SectorPattern.Garbage);
            for (long sector = 0; sector < _sectors; sector += MaxIoSectors)
            {
                _verifyQueue.Enqueue(sector);
            }
        }

        while (_verifyQueue.Count > 0 && _outstanding.Count < _cap)
        {
            long sector = _verifyQueue.Dequeue();
            Submit(RequestOp.Read, RequestFlags.None, (int)(sector / DiskSectors), sector, MaxIoSectors, verify: true);
        }

        if (_verifyQueue.Count == 0 && _outstanding.Count == 0)
        {
            for (int sector = 0; sector < _sectors; sector++)
            {
                _model.Rebase(sector, _observed[sector]);
            }

            _verifying = false;
            _recovering = false;
            _scheduler.Trace("power restored, disk checked");
        }
    }

    private void SubmitRandom()
    {
        int disk = _random.Next(_targets.Length);
        long local = _random.Next(DiskSectors);
        int count = (int)Math.Min(_random.Next(1, MaxIoSectors + 1), DiskSectors - local);
        long sector = (disk * DiskSectors) + local;
        int pick = _random.Next(100);
        (RequestOp op, RequestFlags flags) = pick switch
        {
            < 40 => (RequestOp.Read, RequestFlags.None),
            < 65 => (RequestOp.Write, RequestFlags.None),
            < 75 => (RequestOp.Write, RequestFlags.Fua),
            < 85 => (RequestOp.Flush, RequestFlags.None),
            < 92 => (RequestOp.Discard, RequestFlags.None),
            _ => (RequestOp.WriteZeroes, RequestFlags.None),
        };
        if (op is RequestOp.Write or RequestOp.Discard or RequestOp.WriteZeroes && _model.WriteInFlight(sector, count))
        {
            // Writes to one sector never overlap in time (their order would be undefined): read it instead.
            (op, flags) = (RequestOp.Read, RequestFlags.None);
        }

        Submit(op, flags, disk, sector, count, verify: false);
    }

    private SimIo Prepare(RequestOp op, RequestFlags flags, int disk, long sector, int count, bool verify)
    {
        var io = new SimIo
        {
            Id = _nextId++,
            Disk = disk,
            Op = op,
            Flags = flags,
            Sector = op == RequestOp.Flush ? disk * DiskSectors : sector,
            Count = op == RequestOp.Flush ? 0 : count,
            SubmitSequence = _model.Tick(),
            SubmittedAt = _scheduler.Now,
            Verify = verify,
        };
        _scheduler.Trace($"submit {io}");
        if (_outstanding.Count >= _tagSet.QueueDepth)
        {
            _scheduler.Count("submitter waits for a tag");
        }

        _targets[disk].Submitted[Group(op)]++;
        _outstanding.Add(io.Id, io);
        int length = io.Count * SimMedia.SectorSize;
        switch (op)
        {
            case RequestOp.Read:
                io.Buffer = RentBuffer(length);
                io.Buffer.AsSpan().Fill(0xEE);
                _targets[disk].Export.Target.PrepareReadBuffer(io.Buffer);
                if (!verify)
                {
                    io.Snapshots = new (long[], int)[io.Count];
                    for (int i = 0; i < io.Count; i++)
                    {
                        io.Snapshots[i] = _model.ReadSnapshot(io.Sector + i);
                    }
                }

                break;
            case RequestOp.Write:
                io.Buffer = RentBuffer(length);
                for (int i = 0; i < io.Count; i++)
                {
                    SectorPattern.Fill(io.Buffer.AsSpan(i * SimMedia.SectorSize, SimMedia.SectorSize), io.Id, io.Sector + i);
                }

                _model.BeginWrite(io.Id, io.Sector, io.Count, io.SubmitSequence);
                break;
            case RequestOp.Discard:
            case RequestOp.WriteZeroes:
                _model.BeginWrite(0, io.Sector, io.Count, io.SubmitSequence);
                break;
            default:
                break;
        }

        return io;
    }

    /// <summary>
    /// A plug (<see cref="BlockBatch"/>): a few reads and writes, mostly adjacent so the block layer merges them, and
    /// now and then a discard or flush, dispatched as one batch; each IO's outcome is read when the batch is done.
    /// </summary>
    private void SubmitBatch()
    {
        int n = Math.Min((int)_random.Next(2, 8), _cap - _outstanding.Count);
        int disk = _random.Next(_targets.Length);
        var batch = new BlockBatch(_targets[disk].Export.Target.Device);
        var ios = new List<(SimIo Io, int Index)>();
        long local = _random.Next(DiskSectors);
        for (int i = 0; i < n; i++)
        {
            int count = (int)Math.Min(_random.Next(1, 5), DiskSectors - local);
            long sector = (disk * DiskSectors) + local;
            if (count <= 0)
            {
                break;
            }

            int pick = _random.Next(100);
            RequestOp op = pick < 45 ? RequestOp.Read : pick < 90 ? RequestOp.Write : pick < 95 ? RequestOp.Discard : RequestOp.Flush;
            if (op is RequestOp.Write or RequestOp.Discard && _model.WriteInFlight(sector, count))
            {
                op = RequestOp.Read;
            }

            SimIo io = Prepare(op, RequestFlags.None, disk, sector, count, verify: false);
            long offset = local * SimMedia.SectorSize;
            int index = op switch
            {
                RequestOp.Read => batch.Read(offset, io.Buffer),
                RequestOp.Write => batch.Write(offset, io.Buffer),
                RequestOp.Discard => batch.Discard(offset, count * SimMedia.SectorSize),
                _ => batch.Flush(),
            };
            ios.Add((io, index));
            local = _random.Next(4) == 0 ? _random.Next(DiskSectors) : local + count;
        }

        if (ios.Count == 0)
        {
            return;
        }

        _scheduler.Count("plugged batch");
        ValueTask pending = batch.SubmitAsync();
        if (pending.IsCompleted)
        {
            pending.GetAwaiter().GetResult();
            EndBatch(batch, ios);
        }
        else
        {
            ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter awaiter = pending.ConfigureAwait(false).GetAwaiter();
            awaiter.UnsafeOnCompleted(() =>
            {
                awaiter.GetResult();
                EndBatch(batch, ios);
            });
        }
    }

    private void EndBatch(BlockBatch batch, List<(SimIo Io, int Index)> ios)
    {
        if (batch.RequestCount < ios.Count)
        {
            _scheduler.Count("plugged batch with merged IOs");
        }

        foreach ((SimIo io, int index) in ios)
        {
            OnEnded(io, batch.GetStatus(index));
        }
    }

    private void Submit(RequestOp op, RequestFlags flags, int disk, long sector, int count, bool verify)
    {
        SimIo io = Prepare(op, flags, disk, sector, count, verify);
        BlockDevice device = _targets[disk].Export.Target.Device;
        long offset = (io.Sector - (disk * DiskSectors)) * SimMedia.SectorSize;
        int length = io.Count * SimMedia.SectorSize;
        ValueTask<BlockStatus> pending = op switch
        {
            RequestOp.Read => device.ReadStatusAsync(offset, io.Buffer),
            RequestOp.Write => device.WriteStatusAsync(offset, io.Buffer, flags),
            RequestOp.Discard => device.DiscardStatusAsync(offset, length),
            RequestOp.WriteZeroes => device.WriteZeroesStatusAsync(offset, length),
            _ => device.FlushStatusAsync(),
        };

        if (pending.IsCompleted)
        {
            OnEnded(io, pending.Result);
        }
        else
        {
            ConfiguredValueTaskAwaitable<BlockStatus>.ConfiguredValueTaskAwaiter awaiter = pending.ConfigureAwait(false).GetAwaiter();
            awaiter.UnsafeOnCompleted(() => OnEnded(io, awaiter.GetResult()));
        }
    }

    private void OnEnded(SimIo io, BlockStatus status)
    {
        _scheduler.CheckThread($"the continuation of {io}");
        if (++io.Completions > 1)
        {
            Fail($"{io} ended twice (now with {status})");
        }

        if (!_outstanding.Remove(io.Id))
        {
            Fail($"{io} ended but was not outstanding");
        }

        long sequence = _model.Tick();
        _scheduler.Trace($"ended {io}: {status}");
        int group = Group(io.Op);
        _targets[io.Disk].Ended[group]++;
        _targets[io.Disk].EndedSectors[group] += io.Count;
        if (status is not (BlockStatus.Ok or BlockStatus.IoError or BlockStatus.Timeout))
        {
            Fail($"{io} ended with {status}, which the disk never answers (a busy refusal or a block-layer error leaked)");
        }

        if ((status == BlockStatus.Ok) != (BlockStatusMapping.ToErrno(status) == 0))
        {
            Fail($"{status} maps to errno {BlockStatusMapping.ToErrno(status)}");
        }

        bool ok = status == BlockStatus.Ok;
        if (!ok)
        {
            _errors++;
        }

        if (status == BlockStatus.Timeout)
        {
            _timeouts++;
        }

        switch (io.Op)
        {
            case RequestOp.Read:
                if (ok)
                {
                    CheckRead(io);
                }
                else if (io.Verify)
                {
                    _verifyQueue.Enqueue(io.Sector);
                }

                ReturnBuffer(io.Buffer!);
                break;
            case RequestOp.Write:
                _model.EndWrite(io.Sector, io.Count, ok, (io.Flags & RequestFlags.Fua) != 0, sequence);
                ReturnBuffer(io.Buffer!);
                break;
            case RequestOp.Discard:
            case RequestOp.WriteZeroes:
                _model.EndWrite(io.Sector, io.Count, ok, fua: false, sequence);
                break;
            case RequestOp.Flush:
                if (ok)
                {
                    _model.Flushed(io.SubmitSequence, io.Disk * DiskSectors, DiskSectors);
                }

                break;
            default:
                Fail($"unexpected op {io.Op}");
                break;
        }
    }

    private void CheckRead(SimIo io)
    {
        for (int i = 0; i < io.Count; i++)
        {
            long sector = io.Sector + i;
            long value = SectorPattern.Decode(io.Buffer.AsSpan(i * SimMedia.SectorSize, SimMedia.SectorSize), sector);
            if (io.Verify)
            {
                long[] candidates = [.. _model.CrashCandidates(sector)];
                if (!candidates.Contains(value))
                {
                    Fail($"after a power cut sector {sector} holds {Describe(value)}; what may survive is {string.Join(", ", candidates.Select(Describe))} (the first is what the last acknowledged flush or FUA write made durable)");
                }

                _observed[sector] = value;
            }
            else if (!_model.ReadAllows(sector, io.Snapshots![i], value))
            {
                Fail($"{io} read {Describe(value)} from sector {sector}; it may read only {string.Join(", ", io.Snapshots[i].Values.Select(Describe))} or a write submitted since");
            }
        }
    }

    private void CheckInvariants()
    {
        if (_scheduler.Escape is { } escape)
        {
            Fail($"work escaped the simulator: {escape}");
        }

        int tags = _tagSet.TagsInUse;
        if (tags > _outstanding.Count)
        {
            Fail($"{tags} tags in use with {_outstanding.Count} IOs outstanding: a tag leaked");
        }

        if (_outstanding.Count == 0 && tags != 0)
        {
            Fail($"idle, yet {tags} tags in use");
        }

        for (int disk = 0; disk < _targets.Length; disk++)
        {
            CheckDisk(disk);
        }

        foreach (SimIo io in _outstanding.Values)
        {
            if (_scheduler.Now - io.SubmittedAt > _stuckLimit)
            {
                Fail($"{io} outstanding for {(_scheduler.Now - io.SubmittedAt) / 1_000_000} ms, past every timeout: a hang");
            }
        }
    }

    /// <summary>The statistics and driver of one disk against what its submitters saw.</summary>
    private void CheckDisk(int disk)
    {
        Target target = _targets[disk];
        if (target.SimDisk is { Violations.Count: > 0 })
        {
            Fail($"the driver of disk {disk} saw the contract broken: {target.SimDisk.Violations[0]}");
        }

        int outstanding = 0;
        foreach (SimIo io in _outstanding.Values)
        {
            if (io.Disk == disk)
            {
                outstanding++;
            }
        }

        DiskStats stats = target.Disk.GetStatistics();
        // A merged request is one IO plus its merges (Linux's rd_ios / rd_merges): each submitted IO counts once.
        ReadOnlySpan<long> ios = [stats.ReadIos + stats.ReadMerges, stats.WriteIos + stats.WriteMerges, stats.DiscardIos + stats.DiscardMerges, stats.FlushIos];
        for (int group = 0; group < 4; group++)
        {
            if (ios[group] < target.Ended[group] || ios[group] > target.Submitted[group])
            {
                Fail($"disk {disk}: statistics count {ios[group]} {GroupName(group)} IOs ({stats.ToSysfsString()}); {target.Submitted[group]} were submitted and {target.Ended[group]} have ended");
            }
        }

        if (stats.InFlight > outstanding)
        {
            Fail($"disk {disk}: statistics show {stats.InFlight} IOs in flight with {outstanding} outstanding");
        }

        if (outstanding == 0)
        {
            if (stats.InFlight != 0)
            {
                Fail($"disk {disk}: idle, yet {stats.InFlight} IOs in flight");
            }

            ReadOnlySpan<long> sectors = [stats.ReadSectors, stats.WriteSectors, stats.DiscardSectors, 0];
            for (int group = 0; group < 4; group++)
            {
                if (ios[group] != target.Ended[group] || sectors[group] != target.EndedSectors[group])
                {
                    Fail($"disk {disk}: idle, yet statistics count {ios[group]} {GroupName(group)} IOs of {sectors[group]} sectors; {target.Ended[group]} of {target.EndedSectors[group]} ended");
                }
            }
        }
    }

    private static int Group(RequestOp op) => op switch
    {
        RequestOp.Read => 0,
        RequestOp.Discard => 2,
        RequestOp.Flush => 3,
        _ => 1,
    };

    private static string GroupName(int group) => group switch
    {
        0 => "read",
        1 => "write",
        2 => "discard",
        _ => "flush",
    };

    private static string Describe(long value) => value switch
    {
        SectorPattern.Garbage => "garbage (no write's data)",
        0 => "zeroes",
        _ => $"write {value}",
    };

    private byte[] RentBuffer(int length)
    {
        if (_buffers.TryGetValue(length, out Stack<byte[]>? free) && free.Count > 0)
        {
            return free.Pop();
        }

        return new byte[length];
    }

    private void ReturnBuffer(byte[] buffer)
    {
        if (!_buffers.TryGetValue(buffer.Length, out Stack<byte[]>? free))
        {
            free = new Stack<byte[]>();
            _buffers[buffer.Length] = free;
        }

        free.Push(buffer);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string message)
    {
        _failure ??= Report(message);
        throw new SimulationFailure(_failure);
    }

    private string Report(string message)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"SEED={_options.Seed}: {message}\n");
        text.Append(CultureInfo.InvariantCulture, $"  at step {_scheduler.Steps}, t={_scheduler.Now / 1000.0:F1} us; {_config}\n");
        text.Append(CultureInfo.InvariantCulture, $"  replay: BLKMQ_SIM_SEED={_options.Seed} {ReplayCommand}\n");
        text.Append("  last events:\n");
        foreach (string line in _scheduler.Recent)
        {
            text.Append("    ").Append(line).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>
    /// One disk under test: its export (the front-end layer's view), its simulated device if it has one, and per op
    /// group (read, write + write-zeroes, discard, flush) the IOs submitted and the IOs and sectors that ended.
    /// </summary>
    private sealed class Target(Disk disk, SimDisk? simDisk)
    {
        public Disk Disk { get; } = disk;

        public SimDisk? SimDisk { get; } = simDisk;

        public BlockExport Export { get; } = new(disk.Name, disk);

        public long[] Submitted { get; } = new long[4];

        public long[] Ended { get; } = new long[4];

        public long[] EndedSectors { get; } = new long[4];
    }
}
