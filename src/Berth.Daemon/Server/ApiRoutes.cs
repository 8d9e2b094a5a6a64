namespace Berth.Daemon.Server;

/// <summary>
/// Every Engine API route Berth serves and the job that runs it. Routes not listed here answer
/// 404 <c>{"message":"page not found"}</c>, which `docker inspect` relies on to try the next type.
/// </summary>
public static class ApiRoutes
{
    public static Router Build()
    {
        var r = new Router();
        // System
        r.Add("GET", "/_ping", "ping");
        r.Add("HEAD", "/_ping", "ping");
        r.Add("GET", "/version", "version");
        r.Add("GET", "/info", "info");
        r.Add("GET", "/events", "events");
        r.Add("GET", "/system/df", "system_df");
        r.Add("POST", "/auth", "auth");
        // Containers
        r.Add("GET", "/containers/json", "containers");
        r.Add("POST", "/containers/create", "create");
        r.Add("POST", "/containers/prune", "container_prune");
        r.Add("GET", "/containers/{id}/json", "container_inspect");
        r.Add("GET", "/containers/{id}/top", "top");
        r.Add("GET", "/containers/{id}/logs", "logs");
        r.Add("POST", "/containers/{id}/start", "start");
        r.Add("POST", "/containers/{id}/stop", "stop");
        r.Add("POST", "/containers/{id}/restart", "restart");
        r.Add("POST", "/containers/{id}/kill", "kill");
        r.Add("POST", "/containers/{id}/wait", "wait");
        r.Add("POST", "/containers/{id}/attach", "attach");
        r.Add("POST", "/containers/{id}/resize", "resize");
        r.Add("POST", "/containers/{id}/rename", "rename");
        r.Add("POST", "/containers/{id}/pause", "pause");
        r.Add("POST", "/containers/{id}/unpause", "unpause");
        r.Add("GET", "/containers/{id}/stats", "stats");
        r.Add("POST", "/containers/{id}/update", "update");
        r.Add("DELETE", "/containers/{id}", "rm");
        r.Add("GET", "/containers/{id}/export", "container_export");
        r.Add("GET", "/containers/{id}/changes", "container_changes");
        r.Add("POST", "/commit", "commit");
        // Images
        r.Add("GET", "/images/json", "images");
        r.Add("GET", "/images/search", "image_search");
        r.Add("POST", "/images/create", "image_create");
        r.Add("GET", "/images/get", "image_save");
        r.Add("POST", "/images/prune", "image_prune");
        r.Add("POST", "/images/load", "image_load");
        r.Add("GET", "/images/{name*}/get", "image_save");
        r.Add("GET", "/images/{name*}/json", "image_inspect");
        r.Add("GET", "/images/{name*}/history", "history");
        r.Add("POST", "/images/{name*}/tag", "tag");
        r.Add("POST", "/images/{name*}/push", "image_push");
        r.Add("DELETE", "/images/{name*}", "image_delete");
        // Networks
        r.Add("GET", "/networks", "networks");
        r.Add("GET", "/networks/{id}", "network_inspect");
        r.Add("POST", "/networks/create", "network_create");
        r.Add("POST", "/networks/prune", "network_prune");
        r.Add("POST", "/networks/{id}/connect", "network_connect");
        r.Add("POST", "/networks/{id}/disconnect", "network_disconnect");
        r.Add("DELETE", "/networks/{id}", "network_rm");
        return r;
    }
}
