using System.Diagnostics;

namespace Blkmq.Bench;

/// <summary>
/// One of a job's <c>iodepth</c> IO slots: an async loop that submits one IO, awaits it and submits the next,
/// always on its job's thread. The loop allocates nothing per IO: the buffer and the resume delegate are made here
/// once, the IO's value task is backed by the request's pooled source, and the state machine is boxed once, at its
/// first suspension.
/// </summary>
/// <remarks>
/// Random IO draws each offset, and for <c>randrw</c> whether it reads or writes, from the worker's own xorshift64*
/// generator (seeded per worker), uniform over the whole <c>--size</c> as fio's offsets are: a few nanoseconds per IO.
/// (An earlier version cycled through 4096 offsets drawn at start, which kept each worker inside 16 MiB at 4 KiB and
/// froze the read share of <c>randrw</c> at what those 4096 draws gave.) When every IO completes inside its
/// submission (the null driver at <c>irqmode=0</c>, buffered writes served inline), the first worker never waits and
/// the job's other workers never start: the depth is 1 then, as it is for any submitter whose IO ends before it
/// returns.
/// </remarks>
internal sealed class BenchWorker
{
    private readonly BenchJob _job;
    private readonly BenchControl _control;
    private readonly BlockDevice _device;
    private readonly Memory<byte> _buffer;
    private readonly bool _random;
    private readonly ulong _blocks;
    private readonly int _blockSize;
    private readonly int _writePercent;
    private readonly bool _sequentialWrite;
    private readonly RequestFlags _flags;
    private readonly bool _continueOnError;
    private readonly long _warmupIos;
    private readonly long _measuredIos;
    private ulong _state;

    /// <param name="job">The job the worker belongs to.</param>
    /// <param name="device">The device.</param>
    /// <param name="settings">The benchmark.</param>
    /// <param name="seed">Seeds the worker's offsets; nonzero.</param>
    /// <param name="warmupIos">Warmup IOs of a counted run, or <see cref="long.MaxValue"/> for a timed run.</param>
    /// <param name="measuredIos">Measured IOs of a counted run, or <see cref="long.MaxValue"/> for a timed run.</param>
    public BenchWorker(BenchJob job, BlockDevice device, BenchSettings settings, ulong seed, long warmupIos, long measuredIos)
    {
        _job = job;
        _control = job.Control;
        _device = device;
        _buffer = AllocatePageAligned(settings.BlockSize);
        _buffer.Span.Fill((byte)(seed * 31));
        _flags = settings.Polled ? RequestFlags.Polled : RequestFlags.None;
        _continueOnError = settings.ContinueOnError;
        _warmupIos = warmupIos;
        _measuredIos = measuredIos;
        _sequentialWrite = settings.Mode == ReadWriteMode.Write;
        _random = settings.IsRandom;
        _blocks = (ulong)(settings.Size / settings.BlockSize);
        _blockSize = settings.BlockSize;
        _writePercent = settings.Mode switch
        {
            ReadWriteMode.RandWrite => 100,
            ReadWriteMode.RandRW => 100 - settings.ReadMixPercent,
            _ => 0,
        };
        _state = seed;

        Resume = ResumeOnJob;
    }

    /// <summary>Gets the job the worker belongs to.</summary>
    public BenchJob Job => _job;

    /// <summary>Gets the cached delegate an IO completion calls: queues <see cref="Continuation"/> to the job.</summary>
    public Action Resume { get; }

    /// <summary>Gets or sets the state machine's continuation while an IO is pending; set before the IO can complete.</summary>
    public Action? Continuation { get; set; }

    /// <summary>Runs warmup, parks, then runs the measured phase; ends on stop, at its IO count, or at the first IO error unless told to go on.</summary>
    public async Task RunAsync()
    {
        try
        {
            bool measuring = false;
            long remaining = _warmupIos;
            while (true)
            {
                if (!measuring && (remaining == 0 || _control.WarmupOver))
                {
                    await new JobParkAwaitable(_job);
                    measuring = true;
                    remaining = _measuredIos;
                }

                if (remaining == 0 || _control.Stopping)
                {
                    return;
                }

                long offset;
                bool write;
                if (_random)
                {
                    (offset, write) = NextRandom();
                }
                else
                {
                    offset = _job.NextSequentialOffset();
                    write = _sequentialWrite;
                }

                long start = Stopwatch.GetTimestamp();
                try
                {
                    await new JobAwaitable(write ? _device.WriteAsync(offset, _buffer, _flags) : _device.ReadAsync(offset, _buffer, _flags), this);
                }
                catch (BlockIOException ex)
                {
                    _job.OnError(ex);
                    if (!_continueOnError)
                    {
                        return;
                    }

                    remaining--; // a failed IO counts toward --ios, as fio's; it is not measured
                    continue;
                }

                _job.OnCompleted(measuring, Stopwatch.GetTimestamp() - start);
                remaining--;
            }
        }
        finally
        {
            _job.OnWorkerExited();
        }
    }

    /// <summary>
    /// A pinned buffer whose first byte is page aligned, as fio's buffers are: a driver that does direct IO (the
    /// file driver's <c>O_DIRECT</c> descriptor) can take it as it is instead of falling back to the page cache.
    /// </summary>
    private static unsafe Memory<byte> AllocatePageAligned(int length)
    {
        const int Page = 4096;
        byte[] array = GC.AllocateUninitializedArray<byte>(length + Page - 1, pinned: true);
        fixed (byte* start = array)
        {
            int skew = (int)((Page - ((nint)start & (Page - 1))) & (Page - 1));
            return array.AsMemory(skew, length);
        }
    }

    /// <summary>The next random IO: a block uniform over the region, and whether it writes.</summary>
    private (long Offset, bool Write) NextRandom()
    {
        // xorshift64*: cheap and good enough to spread IO over the region.
        ulong state = _state;
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        _state = state;
        ulong random = state * 0x2545F4914F6CDD1DUL;

        // The block from the high bits (random x blocks / 2^64), the read/write draw from the low 24 bits.
        ulong block = Math.BigMul(random, _blocks, out _);
        bool write = _writePercent == 100 || (_writePercent != 0 && (int)(((random & 0xFFFFFF) * 100) >> 24) < _writePercent);
        return ((long)block * _blockSize, write);
    }

    private void ResumeOnJob()
    {
        Action continuation = Continuation!;
        Continuation = null;
        _job.Post(continuation);
    }
}
