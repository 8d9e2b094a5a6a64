namespace Berth.Api;

/// <summary>
/// The bar docker draws for a progress message (<c>[=====&gt;     ]  1.049MB/3.624MB</c>): the daemon sends it as
/// the deprecated <c>progress</c> field, and the berth CLI draws the same bar on a terminal.
/// </summary>
public static class ProgressBar
{
    public const int Width = 50;

    public static string Render(long current, long total)
    {
        if (total <= 0) return $"{Units.HumanSize(current),8}";
        int filled = (int)(current * 100.0 / total) / 2;
        if (filled > Width) filled = Width;
        var bar = "[" + new string('=', filled) + ">" + new string(' ', Width - filled) + "] ";
        var numbers = current > total ? $"{Units.HumanSize(current),8}" : $"{Units.HumanSize(current),8}/{Units.HumanSize(total)}";
        return bar + numbers;
    }
}
