using System.Buffers;
using System.Runtime.CompilerServices;
using Blkmq.Frontend;

namespace Blkmq.Nbd;

/// <summary>
/// One NBD request between receipt and sent reply, pooled per connection so that steady-state IO allocates nothing:
/// the payload buffer is rented from <see cref="ArrayPool{T}.Shared"/>, the block layer's status task is
/// awaited through a cached continuation, and the finished request goes to the connection's reply queue.
/// </summary>
/// <remarks>
/// Ownership: the reader fills it and calls <see cref="Execute"/>; from then on the IO owns it until
/// <see cref="NbdConnection.OnRequestCompleted"/>; then the writer owns it until <see cref="Reset"/> returns it to the pool.
/// </remarks>
internal sealed class NbdRequest : IThreadPoolWorkItem
{
    /// <summary>The most content chunks a structured read reply is split into around holes.</summary>
    public const int MaxReadChunks = 32;

    private readonly NbdConnection _connection;
    private readonly Action _onIoCompleted;
    private ValueTask<BlockStatus> _pending;
    private bool _flushAfter;
    private NbdExportEntry? _deferredExport;

    public NbdRequest(NbdConnection connection)
    {
        _connection = connection;
        _onIoCompleted = OnIoCompleted;
    }

    public ushort Flags { get; set; }

    public ushort Type { get; set; }

    public ulong Cookie { get; set; }

    public ulong Offset { get; set; }

    /// <summary>Gets or sets the effect length (or payload length for a write).</summary>
    public ulong Length { get; set; }

    /// <summary>Gets or sets the NBD error of the reply; 0 for success.</summary>
    public uint Error { get; set; }

    /// <summary>Gets or sets which fixed message goes with an error reply.</summary>
    public NbdErrorMessage Message { get; set; }

    /// <summary>Gets the rented buffer (write payload, read data or block-status descriptors), or null.</summary>
    public byte[]? Buffer { get; private set; }

    /// <summary>Gets or sets how many bytes of <see cref="Buffer"/> hold data.</summary>
    public int BufferLength { get; set; }

    /// <summary>Gets or sets the bytes counted against the connection's buffer budget.</summary>
    public long BudgetBytes { get; set; }

    /// <summary>Gets the content chunks of a structured read split around holes (offsets relative to the request).</summary>
    public NbdReadChunk[] Chunks { get; } = new NbdReadChunk[MaxReadChunks];

    /// <summary>Gets or sets how many of <see cref="Chunks"/> are used; 0 means one data chunk.</summary>
    public int ChunkCount { get; set; }

    /// <summary>Rents a buffer of at least <paramref name="length"/> bytes.</summary>
    public Span<byte> RentBuffer(int length)
    {
        Buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        BufferLength = length;
        return Buffer.AsSpan(0, length);
    }

    /// <summary>Starts the request's IO on the export's device; completes through the connection.</summary>
    /// <param name="export">The export in use.</param>
    /// <remarks>
    /// IO goes through the device's non-throwing API: a failed IO costs a status, mapped to its NBD error by the
    /// front ends' shared table, never an exception.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Execute(NbdExportEntry export)
    {
        BlockDevice device = export.Device;
        ValueTask<BlockStatus> io;
        switch (Type)
        {
            case NbdProtocol.CmdRead:
                io = device.ReadStatusAsync((long)Offset, Buffer.AsMemory(0, BufferLength));
                break;
            case NbdProtocol.CmdWrite:
                io = device.WriteStatusAsync((long)Offset, Buffer.AsMemory(0, BufferLength), (Flags & NbdProtocol.CmdFlagFua) != 0 ? RequestFlags.Fua : RequestFlags.None);
                break;
            case NbdProtocol.CmdFlush:
                io = device.FlushStatusAsync();
                break;
            case NbdProtocol.CmdTrim:
                _flushAfter = (Flags & NbdProtocol.CmdFlagFua) != 0;
                io = device.DiscardStatusAsync((long)Offset, (long)Length);
                break;
            case NbdProtocol.CmdWriteZeroes:
                _flushAfter = (Flags & NbdProtocol.CmdFlagFua) != 0;
                io = device.WriteZeroesStatusAsync(
                    (long)Offset,
                    (long)Length,
                    mayUnmap: (Flags & NbdProtocol.CmdFlagNoHole) == 0,
                    noFallback: (Flags & NbdProtocol.CmdFlagFastZero) != 0);
                break;
            default:
                // CACHE has nothing to do for an in-memory block layer; BLOCK_STATUS was answered when received.
                io = new ValueTask<BlockStatus>(BlockStatus.Ok);
                break;
        }

        Await(io);
    }

    /// <summary>
    /// Starts the request's IO (<see cref="Execute"/>) from a thread-pool thread, so the reader goes on receiving; the
    /// request itself is the work item, so nothing is allocated.
    /// </summary>
    /// <param name="export">The export in use.</param>
    public void ExecuteOnThreadPool(NbdExportEntry export)
    {
        _deferredExport = export;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <inheritdoc/>
    void IThreadPoolWorkItem.Execute()
    {
        NbdExportEntry export = _deferredExport!;
        _deferredExport = null;
        try
        {
            Execute(export);
        }
#pragma warning disable CA1031 // Nothing may escape a thread-pool work item (it would end the process): the request fails with EIO.
        catch (Exception)
#pragma warning restore CA1031
        {
            Fail(NbdProtocol.Eio, NbdErrorMessage.IOFailed);
        }
    }

    /// <summary>Returns the buffer and clears the request for the pool.</summary>
    public void Reset()
    {
        if (Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = null;
        }

        BufferLength = 0;
        BudgetBytes = 0;
        Error = 0;
        Message = NbdErrorMessage.None;
        ChunkCount = 0;
        _flushAfter = false;
        _pending = default;
    }

    private void Await(ValueTask<BlockStatus> io)
    {
        if (io.IsCompleted)
        {
            OnIoDone(io);
            return;
        }

        _pending = io;
        io.GetAwaiter().UnsafeOnCompleted(_onIoCompleted);
    }

    private void OnIoCompleted()
    {
        ValueTask<BlockStatus> io = _pending;
        _pending = default;
        OnIoDone(io);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnIoDone(ValueTask<BlockStatus> io)
    {
        BlockStatus status;
        try
        {
            status = io.GetAwaiter().GetResult();
        }
#pragma warning disable CA1031 // The status API throws only on misuse (a task awaited twice): end this request with EIO, the connection goes on.
        catch (Exception)
#pragma warning restore CA1031
        {
            status = BlockStatus.IoError;
        }

        if (status != BlockStatus.Ok)
        {
            Fail(BlockStatusMapping.ToNbdError(status), NbdErrorMessage.IOFailed);
            return;
        }

        if (_flushAfter)
        {
            _flushAfter = false;
            Await(_connection.Export!.Device.FlushStatusAsync());
            return;
        }

        _connection.OnRequestCompleted(this);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Fail(uint error, NbdErrorMessage message)
    {
        Error = error;
        Message = message;
        _flushAfter = false;
        _connection.OnRequestCompleted(this);
    }
}
