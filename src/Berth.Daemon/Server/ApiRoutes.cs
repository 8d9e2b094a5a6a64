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
        r.Add("DELETE", "/containers/{id}", "rm");
        // Images
        r.Add("GET", "/images/json", "images");
        r.Add("GET", "/images/search", "image_search");
        r.Add("POST", "/images/create", "image_create");
        r.Add("GET", "/images/{name*}/json", "image_inspect");
        r.Add("GET", "/images/{name*}/history", "history");
        r.Add("POST", "/images/{name*}/tag", "tag");
        r.Add("POST", "/images/{name*}/push", "image_push");
        r.Add("DELETE", "/images/{name*}", "image_delete");
        return r;
    }
}
