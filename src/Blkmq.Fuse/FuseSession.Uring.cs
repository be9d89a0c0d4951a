using Blkmq.Fuse.Interop;

namespace Blkmq.Fuse;

/// <content>The transport after INIT: io_uring queues when negotiated, else the <c>/dev/fuse</c> workers alone.</content>
internal sealed partial class FuseSession
{
    /// <summary>
    /// Called by the worker that answered INIT, after its reply reached the kernel (the kernel takes ring entries only
    /// from then on): starts one io_uring queue per possible CPU when FUSE over io_uring was negotiated.
    /// </summary>
    private void Initialized()
    {
        if (!_ringNegotiated)
        {
            FuseLog.TransportDevFuse(_logger, _workers, _ioUring == FuseIoUringMode.Off ? "io_uring off" : "the kernel did not offer io_uring");
            _ready.TrySetResult(false);
            return;
        }

        int count = FuseUring.PossibleCpus();
        var queues = new FuseUringQueue[count];
        for (int i = 0; i < count; i++)
        {
            int errno = FuseUringQueue.TryCreate(this, (ushort)i, _fd, _ringDepth, MaxTransfer, out FuseUringQueue? queue);
            if (errno != 0)
            {
                // Nothing registered yet on this queue, so the kernel never uses the ring: /dev/fuse serves on.
                FuseLog.RingFailed(_logger, i, errno);
                for (int j = 0; j < i; j++)
                {
                    queues[j].Discard();
                }

                FuseLog.TransportDevFuse(_logger, _workers, "io_uring queues could not be created");
                _ready.TrySetResult(false);
                return;
            }

            queues[i] = queue!;
        }

        _queuesToRegister = count;
        Interlocked.Add(ref _running, count);
        Volatile.Write(ref _queues, queues);
        foreach (FuseUringQueue queue in queues)
        {
            queue.Start();
        }
    }

    /// <summary>Called by each queue's thread once its REGISTER commands were taken (or refused).</summary>
    public void QueueRegistered(int queueId, bool registered)
    {
        _ = queueId;
        if (!registered)
        {
            Interlocked.Exchange(ref _queuesFailed, 1);
        }

        if (Interlocked.Decrement(ref _queuesToRegister) == 0)
        {
            bool ring = Volatile.Read(ref _queuesFailed) == 0;
            if (ring)
            {
                FuseLog.TransportIoUring(_logger, _queues.Length, _ringDepth);
            }
            else
            {
                FuseLog.TransportDevFuse(_logger, _workers, "registering the io_uring entries failed");
            }

            _ready.TrySetResult(ring);
        }
    }

    /// <summary>Called by each queue's thread when it ended.</summary>
    public void QueueEnded() => Ended();
}
