namespace Berth.Daemon.Containers;

/// <summary>Random "adjective_noun" names for containers created without --name, in Docker's style.</summary>
public static class NameGenerator
{
    static readonly string[] Adjectives =
    [
        "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "deep", "eager", "fair",
        "fast", "fierce", "gentle", "glad", "golden", "grand", "happy", "hardy", "humble", "jolly", "keen", "kind",
        "lively", "loyal", "lucky", "merry", "mighty", "modest", "nimble", "noble", "patient", "plucky", "proud",
        "quick", "quiet", "rapid", "ready", "serene", "sharp", "shiny", "silent", "sleek", "smooth", "snug", "solid",
        "steady", "stoic", "sunny", "swift", "tender", "tidy", "tough", "vivid", "warm", "wise", "witty", "zesty",
    ];

    static readonly string[] Nouns =
    [
        "anchor", "ballast", "barge", "beacon", "bollard", "bosun", "bow", "breakwater", "buoy", "cabin", "capstan",
        "cargo", "channel", "clipper", "compass", "coral", "cove", "crane", "current", "cutter", "davit", "deck",
        "dinghy", "dock", "dolphin", "ferry", "fjord", "galley", "gull", "harbor", "hatch", "helm", "hull", "inlet",
        "jetty", "keel", "ketch", "lagoon", "lantern", "lighthouse", "mast", "mooring", "narwhal", "oar", "orca",
        "pelican", "pier", "pilot", "port", "quay", "reef", "rudder", "sail", "schooner", "skiff", "sloop", "starboard",
        "stern", "tide", "tugboat", "wharf", "yawl",
    ];

    public static string Next(Func<string, bool> taken)
    {
        for (int attempt = 0; ; attempt++)
        {
            var name = $"{Adjectives[Random.Shared.Next(Adjectives.Length)]}_{Nouns[Random.Shared.Next(Nouns.Length)]}";
            if (attempt > 3) name += Random.Shared.Next(10);
            if (!taken("/" + name)) return name;
        }
    }
}
