using System.Buffers.Binary;

namespace Blkmq.Drivers.File;

/// <summary>
/// Recognises the headers of VM image formats that are not raw, the way <c>qemu-img info</c> probes them, so that
/// serving <c>guest.qcow2</c> by mistake is a warning at start rather than a VM that finds no partition table.
/// </summary>
public static class ImageFormats
{
    /// <summary>The bytes at the start of a file that <see cref="Probe"/> looks at.</summary>
    public const int HeaderBytes = 512;

    // "QFI" and 0xfb: qcow and qcow2.
    private static ReadOnlySpan<byte> QcowMagic => [(byte)'Q', (byte)'F', (byte)'I', 0xfb];

    /// <summary>Names the image format that <paramref name="header"/> (the file's first bytes) starts, if any.</summary>
    /// <param name="header">Up to <see cref="HeaderBytes"/> bytes from offset 0.</param>
    /// <returns><c>qcow2</c> (or <c>qcow</c> for version 1), <c>qed</c>, <c>vmdk</c>, <c>vdi</c>, <c>vhdx</c>, <c>vpc</c>, or <see langword="null"/>.</returns>
    public static string? Probe(ReadOnlySpan<byte> header)
    {
        if (header.StartsWith(QcowMagic))
        {
            // Version (big-endian) after the magic: 1 is the old qcow, 2 and 3 are qcow2.
            return header.Length >= 8 && BinaryPrimitives.ReadUInt32BigEndian(header[4..]) == 1 ? "qcow" : "qcow2";
        }

        if (header.StartsWith("QED\0"u8))
        {
            return "qed";
        }

        if (header.StartsWith("KDMV"u8) || header.StartsWith("COWD"u8) || header.StartsWith("# Disk DescriptorFile"u8))
        {
            return "vmdk";
        }

        if (header.StartsWith("vhdxfile"u8))
        {
            return "vhdx";
        }

        if (header.StartsWith("conectix"u8))
        {
            // A dynamic or differencing VHD starts with a copy of its footer; a fixed one is raw with a footer at the end.
            return "vpc";
        }

        // VDI: a text banner, then the signature 0xbeda107f (little-endian) at offset 0x40.
        if (header.Length >= 0x44 && header[0x40] == 0x7f && header[0x41] == 0x10 && header[0x42] == 0xda && header[0x43] == 0xbe)
        {
            return "vdi";
        }

        return null;
    }
}
