namespace Berth.Runc;

sealed class UsageException(string message) : Exception(message);

/// <summary>A command's arguments: flags are taken out by name, what is left is positional.</summary>
sealed class Args(List<string> items)
{
    public string? Value(params string[] names)
    {
        for (var i = 0; i < items.Count; i++)
        {
            foreach (var name in names)
            {
                if (items[i] == name)
                {
                    if (i + 1 >= items.Count) throw new UsageException($"flag {name} needs a value");
                    var v = items[i + 1];
                    items.RemoveRange(i, 2);
                    return v;
                }
                if (items[i].StartsWith(name + "=", StringComparison.Ordinal))
                {
                    var v = items[i][(name.Length + 1)..];
                    items.RemoveAt(i);
                    return v;
                }
            }
        }
        return null;
    }

    /// <summary>Every occurrence of a repeatable flag (runc's -e, --cap, ...), in order.</summary>
    public List<string> Values(params string[] names)
    {
        var all = new List<string>();
        while (Value(names) is { } v) all.Add(v);
        return all;
    }

    public int IntValue(string name, int fallback)
    {
        var v = Value(name);
        if (v is null) return fallback;
        return int.TryParse(v, out var n) && n >= 0 ? n : throw new UsageException($"{name}: \"{v}\" is not a non-negative number");
    }

    /// <summary>A boolean flag; also takes the <c>--flag=true|false</c> form the Go flag library accepts.</summary>
    public bool Switch(params string[] names)
    {
        var on = false;
        for (var i = items.Count - 1; i >= 0; i--)
        {
            foreach (var name in names)
            {
                if (items[i] == name) { on = true; items.RemoveAt(i); break; }
                if (items[i].StartsWith(name + "=", StringComparison.Ordinal))
                {
                    on = items[i][(name.Length + 1)..] is "true" or "1";
                    items.RemoveAt(i);
                    break;
                }
            }
        }
        return on;
    }

    /// <summary>Everything after <paramref name="marker"/>, removed from the list.</summary>
    public List<string> Rest(string marker)
    {
        var i = items.IndexOf(marker);
        if (i < 0) return [];
        var rest = items[(i + 1)..];
        items.RemoveRange(i, items.Count - i);
        return rest;
    }

    /// <summary>
    /// For commands whose container id is followed by a command line of its own (exec): everything
    /// after the first positional argument, which flags like the command's own <c>-c</c> belong to.
    /// <paramref name="valueFlags"/> are the flags that take a value, so their values are not taken for the id.
    /// </summary>
    public List<string> AfterFirstPositional(params string[] valueFlags)
    {
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] == "--") { items.RemoveAt(i); return Tail(i + 1); }
            if (valueFlags.Contains(items[i])) { i++; continue; }
            if (!items[i].StartsWith('-')) return Tail(i + 1);
        }
        return [];

        List<string> Tail(int from)
        {
            var rest = items[from..];
            items.RemoveRange(from, items.Count - from);
            return rest;
        }
    }

    public string? Positional()
    {
        var i = items.FindIndex(s => !s.StartsWith('-') || s == "-");
        if (i < 0) return null;
        var v = items[i];
        items.RemoveAt(i);
        return v;
    }

    public string Id()
    {
        var unknown = items.FirstOrDefault(s => s.StartsWith('-') && s.Length > 1);
        if (unknown is not null) throw new UsageException($"flag provided but not defined: {unknown}");
        return Positional() ?? throw new UsageException("a container id is required");
    }

    public void NoMore()
    {
        if (items.Count > 0) throw new UsageException($"unexpected argument \"{items[0]}\"");
    }
}
