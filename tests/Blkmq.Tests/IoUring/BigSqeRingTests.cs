using Blkmq.IoUring;
using Blkmq.IoUring.Interop;

namespace Blkmq.Tests.IoUring;

/// <summary>Rings with 128-byte SQEs (<c>IORING_SETUP_SQE128</c>, what FUSE's and ublk's <c>URING_CMD</c> need).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed unsafe class BigSqeRingTests
{
    [Fact]
    public void Sqe128Ring_RoundTripsEverySlot_SeveralTimesAround_AndClearsTheCommandArea()
    {
        int created = IoUringRing.TryCreate(4, IoUringSetup.Sqe128 | IoUringSetup.CqSize, 16, out IoUringRing? ring);
        if (created != 0)
        {
            Assert.Skip($"io_uring with SQE128 is not available here (errno {created}).");
        }

        using (ring)
        {
            Assert.True(ring!.HasBigSqes);
            Assert.Equal(16u, ring.CompletionEntries);
            for (ulong round = 0; round < 5; round++)
            {
                for (ulong i = 0; i < ring.SubmissionEntries; i++)
                {
                    IoUringSqe* sqe = ring.TryGetSqe();
                    Assert.True(sqe != null);

                    // Left dirty by the previous round: a cleared SQE has all 128 bytes zero.
                    Assert.True(new ReadOnlySpan<byte>(sqe, 128).IndexOfAnyExcept((byte)0) < 0);
                    sqe->Opcode = IoUringOpcode.Nop;
                    sqe->UserData = (round << 8) | i;
                    new Span<byte>(IoUringSqe.Command(sqe), IoUringSqe.BigCommandLength).Fill(0xAB);
                }

                Assert.True(ring.TryGetSqe() == null, "the SQ is full");
                Assert.Equal((int)ring.SubmissionEntries, ring.Submit(ring.SubmissionEntries));
                for (ulong i = 0; i < ring.SubmissionEntries; i++)
                {
                    Assert.True(ring.TryPeekCompletion(out IoUringCqe cqe));
                    Assert.Equal((round << 8) | i, cqe.UserData);
                    Assert.Equal(0, cqe.Result);
                    ring.AdvanceCompletion();
                }
            }
        }
    }

    [Fact]
    public void DefaultRing_Has64ByteSqes()
    {
        int created = IoUringRing.TryCreate(2, out IoUringRing? ring);
        if (created != 0)
        {
            Assert.Skip($"io_uring is not available here (errno {created}).");
        }

        using (ring)
        {
            Assert.False(ring!.HasBigSqes);
        }
    }
}
