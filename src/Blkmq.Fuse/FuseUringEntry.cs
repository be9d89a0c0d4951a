using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Blkmq.Fuse;

/// <summary>
/// One ring entry of a <see cref="FuseUringQueue"/>: the header buffer and the payload buffer the kernel writes a
/// request into and reads its reply from, and the request being served in them. Owned by the queue's thread; only
/// <see cref="Continuation"/> runs elsewhere (where a pending IO completes), and it only hands the entry back.
/// </summary>
internal sealed unsafe class FuseUringEntry : FuseCall
{
    public FuseUringEntry(FuseUringQueue queue, ushort index, byte* header, byte[] payload, nint iovecs)
    {
        Index = index;
        Header = header;
        Payload = payload;
        Iovecs = iovecs;

        // The two buffers as the kernel wants them: struct iovec { void *iov_base; size_t iov_len; } [2].
        nint* iov = (nint*)iovecs;
        iov[0] = (nint)header;
        iov[1] = Interop.FuseUring.HeaderLength;
        iov[2] = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(payload)); // pinned: never moves
        iov[3] = payload.Length;

        // Made once: handing an entry back allocates nothing.
        Continuation = () => queue.Completed(this);
    }

    /// <summary>Gets the entry's index in its queue, its SQEs' <c>user_data</c>.</summary>
    public ushort Index { get; }

    /// <summary>Gets the header buffer (<c>struct fuse_uring_req_header</c>), native memory of the queue.</summary>
    public byte* Header { get; }

    /// <summary>Gets the payload buffer: a pinned array of <c>max_write</c> bytes.</summary>
    public byte[] Payload { get; }

    /// <summary>Gets the address of the iovec pair given with <c>FUSE_IO_URING_CMD_REGISTER</c>.</summary>
    public nint Iovecs { get; }

    /// <summary>Gets the action a pending IO runs when it completes: it queues the entry for its thread.</summary>
    public Action Continuation { get; }

    /// <summary>Gets or sets the next entry on the queue's completed stack.</summary>
    public FuseUringEntry? Next { get; set; }

    /// <summary>Gets or sets the request's <c>unique</c>, for the reply's header.</summary>
    public ulong Unique { get; set; }

    /// <summary>Gets or sets the request's commit id, for <c>COMMIT_AND_FETCH</c>.</summary>
    public ulong CommitId { get; set; }

    /// <summary>Gets or sets whether the entry's last command was REGISTER (not yet served a request).</summary>
    public bool Registering { get; set; } = true;
}
