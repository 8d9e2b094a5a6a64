using System.Text;

namespace Berth.Cli.Formatting;

/// <summary>
/// Aligns tab-separated cells the way docker's tables do (Go's text/tabwriter with minwidth 10,
/// padding 3, space padding): each column is as wide as its widest cell plus 3, at least 10;
/// text after a line's last tab is not a column and is left unpadded.
/// </summary>
public static class TabWriter
{
    public const int MinWidth = 10, Padding = 3;

    public static string Format(string text)
    {
        var lines = text.Split('\n');
        bool trailingNewline = text.EndsWith('\n');
        int count = trailingNewline ? lines.Length - 1 : lines.Length;
        var cells = new string[count][];
        for (int i = 0; i < count; i++) cells[i] = lines[i].Split('\t');

        var sb = new StringBuilder(text.Length * 2);
        // Columns are aligned per block of consecutive lines that have that column, as Go does.
        var widths = new int[count][];
        for (int i = 0; i < count; i++) widths[i] = new int[Math.Max(0, cells[i].Length - 1)];
        for (int col = 0; ; col++)
        {
            bool any = false;
            int start = 0;
            while (start < count)
            {
                if (cells[start].Length - 1 <= col) { start++; continue; }
                any = true;
                int end = start, width = MinWidth;
                while (end < count && cells[end].Length - 1 > col)
                {
                    width = Math.Max(width, cells[end][col].Length + Padding);
                    end++;
                }
                for (int k = start; k < end; k++) widths[k][col] = width;
                start = end;
            }
            if (!any) break;
        }
        for (int i = 0; i < count; i++)
        {
            var row = cells[i];
            for (int c = 0; c < row.Length - 1; c++) sb.Append(row[c]).Append(' ', widths[i][c] - row[c].Length);
            sb.Append(row[^1]);
            if (i < count - 1 || trailingNewline) sb.Append('\n');
        }
        return sb.ToString();
    }
}
