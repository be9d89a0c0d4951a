using System.Buffers;
using System.Runtime.InteropServices;
using Blkmq.Drivers.File.Interop;

namespace Blkmq.Drivers.File;

/// <summary>
/// The threads engine's hardware queue: a bounded FIFO of requests and a few worker threads that each take one,
/// run it with <c>preadv2</c> / <c>pwritev2</c> / <c>fdatasync</c> / <c>fallocate</c>, and end it. Ends happen on the
/// workers (foreign threads), so the block layer resumes submitters on the thread pool.
/// </summary>
internal sealed unsafe class FileThreadsQueue : FileHwQueue
{
    private readonly FileDisk _disk;
    private readonly object _gate = new();
    private readonly Request<FileRequest>[] _queue;
    private readonly Thread[] _workers;
    private int _head;
    private int _count;
    private int _idle;
    private bool _stopping;

    public FileThreadsQueue(FileDisk disk, int hwQueueIndex, int depth, int maxSegments)
    {
        _disk = disk;
        _queue = new Request<FileRequest>[depth];
        _workers = new Thread[disk.Threads];
        for (int i = 0; i < _workers.Length; i++)
        {
            var worker = new Worker(this, maxSegments);
            _workers[i] = new Thread(static state => ((Worker)state!).Run())
            {
                IsBackground = true,
                Name = $"blkmq-file-{hwQueueIndex}.{i}",
            };
            _workers[i].Start(worker);
        }
    }

    internal override void Queue(Request<FileRequest> request, bool isLast)
    {
        lock (_gate)
        {
            // The tag set's depth bounds what the driver holds per queue, so the FIFO never overflows.
            _queue[(_head + _count) % _queue.Length] = request;
            _count++;
            if (_idle > 0)
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    internal override void Commit()
    {
        // Workers start on each request as it comes; there is nothing to kick.
    }

    internal override TimeoutAction Timeout(Request<FileRequest> request)
    {
        // A worker runs or will run it and ends it when the system call returns; a blocked pread cannot be aborted.
        FileLog.WorkerTimedOut(_disk.Logger, _disk.Name, request.Token.Value);
        return TimeoutAction.WillEnd;
    }

    protected override void Dispose(bool disposing)
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }

        foreach (Thread worker in _workers)
        {
            worker.Join();
        }
    }

    private bool TryTake(out Request<FileRequest> request)
    {
        lock (_gate)
        {
            while (_count == 0)
            {
                if (_stopping)
                {
                    request = default;
                    return false;
                }

                _idle++;
                Monitor.Wait(_gate);
                _idle--;
            }

            request = _queue[_head];
            _queue[_head] = default;
            _head = (_head + 1) % _queue.Length;
            _count--;
            return true;
        }
    }

    /// <summary>One worker's private IO state: its iovec array and pins, reused for every request it runs.</summary>
    private sealed class Worker
    {
        private readonly FileThreadsQueue _owner;
        private readonly MemoryHandle[] _pins;
        private readonly int _maxSegments;

        public Worker(FileThreadsQueue owner, int maxSegments)
        {
            _owner = owner;
            _maxSegments = maxSegments;
            _pins = new MemoryHandle[maxSegments];
        }

        public void Run()
        {
            IoVec* iov = (IoVec*)NativeMemory.Alloc((nuint)_maxSegments, (nuint)sizeof(IoVec));
            try
            {
                while (_owner.TryTake(out Request<FileRequest> request))
                {
                    BlockStatus status;
                    try
                    {
                        status = FileIo.Execute(_owner._disk, request, iov, _pins);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        // A worker must outlive any one request: the request fails, the queue runs on.
                        FileLog.WorkerThrew(_owner._disk.Logger, ex, _owner._disk.Name);
                        status = BlockStatus.IoError;
                    }

                    request.TryEnd(status);
                }
            }
            finally
            {
                NativeMemory.Free(iov);
            }
        }
    }
}
