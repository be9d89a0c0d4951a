using System.CommandLine;
using System.Globalization;
using Blkmq.Ublk;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq ublk list</c> (every ublk device, with GET_DEV_INFO: state, queues, depth, server pid, flags) and
/// <c>blkmq ublk delete N</c> (STOP_DEV + DEL_DEV of a device left by a server that died).
/// </summary>
internal sealed class UblkCommand : Command
{
    public UblkCommand()
        : base("ublk", "ublk devices (/dev/ublkbN, Linux ublk_drv): list them, delete one left by a dead server.")
    {
        var list = new Command("list", "List ublk devices: number, state, queues x depth, max IO bytes, server pid, flags.");
        list.SetAction(static _ => List());
        Subcommands.Add(list);
        var id = new Argument<int>("N") { Description = "The device number N of /dev/ublkcN." };
        var delete = new Command("delete", "Stop and delete ublk device N (its server must be dead or stopped; a live server's device is stopped under it).")
        {
            id,
        };
        delete.SetAction(parseResult => Delete(parseResult.GetValue(id)));
        Subcommands.Add(delete);
    }

    private static int List()
    {
        IReadOnlyList<UblkDeviceInfo> devices;
        try
        {
            devices = UblkDeviceInfo.ListAll();
        }
        catch (UblkException ex)
        {
            Console.Error.WriteLine($"blkmq ublk list: {ex.Message}");
            return Program.ExitIOError;
        }

        Console.Out.WriteLine("ID  STATE     QUEUES  DEPTH  MAX_IO   PID      BLOCK_DEVICE   FLAGS");
        foreach (UblkDeviceInfo d in devices)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{d.DeviceId,-3} {d.State,-9} {d.QueueCount,6} {d.QueueDepth,6}  {d.MaxIoBytes,-8} {d.ServerPid,-8} {(File.Exists(d.BlockDevicePath) ? d.BlockDevicePath : "-"),-14} {d.FlagNames}"));
        }

        return 0;
    }

    private static int Delete(int id)
    {
        if (id < 0)
        {
            Console.Error.WriteLine("blkmq ublk delete: N must not be negative.");
            return Program.ExitBadArguments;
        }

        try
        {
            UblkDeviceInfo.Delete(id);
            Console.Out.WriteLine($"deleted /dev/ublkc{id.ToString(CultureInfo.InvariantCulture)}");
            return 0;
        }
        catch (UblkException ex)
        {
            Console.Error.WriteLine($"blkmq ublk delete: {ex.Message}");
            return Program.ExitIOError;
        }
    }
}
