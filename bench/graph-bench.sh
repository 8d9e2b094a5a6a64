#!/usr/bin/env bash
# Side-by-side benchmark of Berth's Graph against dockerd's, in one run (see docs/benchmarks.md):
#   - `load` of a ~200 MB image in 6 layers made from files on this machine (the image is removed
#     before every run, so each load stores every layer)
#   - `save` of that image to a file
#   - `images` with $TAGS images present (or $TAGS tags of one, IMAGES_KIND=tags), and `GET /images/json` alone (curl on each socket), which
#     splits the daemon's share from the CLI's
# Berth is measured with its own CLI and with the docker CLI; dockerd with the docker CLI.
# Both daemons are private and torn down on exit (bench/daemons.sh). Needs root, hyperfine,
# python3, Debian's docker.io (/usr/sbin/dockerd) and a docker CLI.
#
# Env: RUNS (hyperfine runs for load/save, default 5), IMAGES_RUNS (20), TAGS (1000 rows for `images`),
#      IMAGES_KIND (distinct: TAGS images of their own; tags: TAGS tags of the loaded image),
#      DOCKER_CLI (/usr/local/bin/docker), DOCKERD (/usr/sbin/dockerd), OUT (default bench/out).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
IMAGES_RUNS=${IMAGES_RUNS:-20}
TAGS=${TAGS:-1000}
IMAGES_KIND=${IMAGES_KIND:-distinct}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
OUT=${OUT:-$top/bench/out}
# The layers: ~200 MB of real files, many small (man pages, python) and some large.
LAYER_DIRS=(/usr/lib/python3.11 /usr/lib/python3 /usr/share/man /usr/share/perl /usr/share/i18n /usr/share/zoneinfo)

[ "$(id -u)" = 0 ] || { echo "graph-bench.sh must run as root" >&2; exit 1; }
for tool in hyperfine python3 curl "$DOCKER_CLI" "$DOCKERD" "$top/bin/berth" "$top/bin/berthd"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
for d in "${LAYER_DIRS[@]}"; do [ -d "$d" ] || { echo "missing layer source $d" >&2; exit 1; }; done
mkdir -p "$OUT"

DATA_FS=${DATA_FS:-ext4}
. "$top/bench/daemons.sh"

log "temp dir $TMP"
load=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the image: a docker-archive written here, one layer per directory -------------------
log "building the image archive from ${LAYER_DIRS[*]}"
mkdir -p "$TMP/layers"
i=0
for d in "${LAYER_DIRS[@]}"; do
  tar -C / --numeric-owner -cf "$TMP/layers/$i.tar" "${d#/}"
  i=$((i + 1))
done
python3 - "$TMP/layers" "$TMP/image.tar" <<'PY'
import hashlib, io, json, os, sys, tarfile

layers_dir, out = sys.argv[1:]
names = sorted(os.listdir(layers_dir), key=lambda n: int(n.split(".")[0]))
diff_ids = []
for n in names:
    h = hashlib.sha256()
    with open(os.path.join(layers_dir, n), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    diff_ids.append("sha256:" + h.hexdigest())
config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2026-11-28T00:00:00Z",
    "config": {"Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created": "2026-11-28T00:00:00Z", "created_by": f"graph-bench layer {n}"} for n in names],
}, separators=(",", ":")).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = [{"Config": config_name, "RepoTags": ["graphbench:big"],
             "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    def add_bytes(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    add_bytes(config_name, config)
    for n, d in zip(names, diff_ids):
        t.add(os.path.join(layers_dir, n), arcname=f"{d[7:]}/layer.tar")
    add_bytes("manifest.json", json.dumps(manifest).encode())
PY
rm -rf "$TMP/layers"
image_mb=$(( $(stat -c %s "$TMP/image.tar") / 1000000 ))

log "starting berthd and dockerd"
start_berthd >/dev/null
start_dockerd >/dev/null

# Sanity: both load it, and agree on its id.
bid=$("${dk_berth[@]}" load -q -i "$TMP/image.tar" >/dev/null && "${dk_berth[@]}" image inspect -f '{{.Id}}' graphbench:big)
did=$("${dk_docker[@]}" load -q -i "$TMP/image.tar" >/dev/null && "${dk_docker[@]}" image inspect -f '{{.Id}}' graphbench:big)
[ "$bid" = "$did" ] || { log "image ids differ: berthd $bid, dockerd $did"; exit 1; }

# ---- load --------------------------------------------------------------------------------
log "load of the ${image_mb} MB image, $RUNS runs each"
hyperfine -N --runs "$RUNS" --export-json "$TMP/load.json" \
  --prepare "sh -c '${dk_berth[*]} rmi graphbench:big >/dev/null 2>&1; sync; true'" \
  --prepare "sh -c '${dk_berth[*]} rmi graphbench:big >/dev/null 2>&1; sync; true'" \
  --prepare "sh -c '${dk_docker[*]} rmi graphbench:big >/dev/null 2>&1; sync; true'" \
  -n "berth CLI -> berthd" "${berth[*]} load -q -i $TMP/image.tar" \
  -n "docker CLI -> berthd" "${dk_berth[*]} load -q -i $TMP/image.tar" \
  -n "docker CLI -> dockerd" "${dk_docker[*]} load -q -i $TMP/image.tar"

# ---- save --------------------------------------------------------------------------------
log "save of the image, $RUNS runs each"
hyperfine -N --runs "$RUNS" --export-json "$TMP/save.json" \
  --prepare "rm -f $TMP/saved.tar" \
  -n "berth CLI -> berthd" "${berth[*]} save -o $TMP/saved.tar graphbench:big" \
  -n "docker CLI -> berthd" "${dk_berth[*]} save -o $TMP/saved.tar graphbench:big" \
  -n "docker CLI -> dockerd" "${dk_docker[*]} save -o $TMP/saved.tar graphbench:big"
rm -f "$TMP/saved.tar"

# ---- images with many images (or many tags of one) ------------------------------------------
# IMAGES_KIND=distinct (the default): $TAGS images of their own, each an import of the same tiny
# layer with its own ENV, so every row is an image with its own config; IMAGES_KIND=tags: $TAGS
# tags of the big image. One CLI process per image would take minutes; the API is called directly.
log "making $TAGS $IMAGES_KIND rows on each daemon"
python3 - "$berth_sock" "$docker_sock" "$IMAGES_KIND" "$TAGS" <<'PY'
import io, socket, sys, tarfile

def call(sock_path, path, body=b"", ok=(b"HTTP/1.1 200", b"HTTP/1.1 201")):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n"
              f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    resp = b""
    while chunk := s.recv(65536):
        resp += chunk
    s.close()
    if not resp.startswith(ok) or b'"error"' in resp:
        sys.exit(f"{sock_path} {path}: {resp[:300]!r}")

layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    info = tarfile.TarInfo("f")
    info.size = 1
    t.addfile(info, io.BytesIO(b"x"))
berth_sock, docker_sock, kind, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for i in range(count):
    for sock_path in (berth_sock, docker_sock):
        if kind == "tags":
            call(sock_path, f"/images/graphbench:big/tag?repo=graphbench/t{i}&tag=v1")
        else:
            call(sock_path, f"/images/create?fromSrc=-&repo=graphbench/i{i}&tag=v1&changes=ENV%20N%3D{i}", layer.getvalue())
PY
hyperfine -N --warmup 3 --runs "$IMAGES_RUNS" --export-json "$TMP/images.json" \
  -n "berth CLI -> berthd" "${berth[*]} images" \
  -n "docker CLI -> berthd" "${dk_berth[*]} images" \
  -n "docker CLI -> dockerd" "${dk_docker[*]} images"
api_version=$("${dk_docker[@]}" version --format '{{.Server.APIVersion}}')
hyperfine -N --warmup 3 --runs "$IMAGES_RUNS" --export-json "$TMP/images-api.json" \
  -n "curl -> berthd" "curl -sS -o /dev/null --unix-socket $berth_sock http://d/v$api_version/images/json" \
  -n "curl -> dockerd" "curl -sS -o /dev/null --unix-socket $docker_sock http://d/v$api_version/images/json"
[ "$("${dk_berth[@]}" images -q | wc -l)" = "$("${dk_docker[@]}" images -q | wc -l)" ] ||
  { log "the daemons list different numbers of images"; exit 1; }

# ---- report ------------------------------------------------------------------------------
day=$(date -u +%F)
for m in load save images images-api; do cp "$TMP/$m.json" "$OUT/graph-$m-$day.json"; done
python3 - "$TMP" "$OUT/graph-benchmarks-$day.md" "$day" "$RUNS" "$IMAGES_RUNS" "$TAGS $IMAGES_KIND" "$image_mb" \
  "$(nproc)" "$(uname -r)" "$("${dk_docker[@]}" version --format '{{.Server.Version}}')" "$load" <<'PY'
import json, sys

tmp, md_path, day, runs, images_runs, tags, image_mb, cores, kernel, dockerd_ver, load = sys.argv[1:]
ref_cli, ref_api = "docker CLI -> dockerd", "curl -> dockerd"
lines = ["| Measurement | Path | Median (ms) | Min–max (ms) | vs dockerd |", "|---|---|--:|--:|--:|"]
for name, title in [("load", f"load, {image_mb} MB in 6 layers"), ("save", "save -o file"), ("images", f"images ({tags.replace('distinct', 'images')})"),
                    ("images-api", f"GET /images/json ({tags.replace('distinct', 'images')})")]:
    with open(f"{tmp}/{name}.json") as f:
        res = {r["command"]: r for r in json.load(f)["results"]}
    ref = ref_api if ref_api in res else ref_cli
    for path, r in res.items():
        lines.append(f"| {title} | {path} | {r['median'] * 1000:.1f} | {r['min'] * 1000:.1f}–{r['max'] * 1000:.1f} | "
                     f"{r['median'] / res[ref]['median']:.2f}x |")
table = "\n".join(lines)
md = f"""### {day}: graph (`bench/graph-bench.sh`)

Machine: {cores} cores, kernel {kernel}; dockerd {dockerd_ver} (Debian docker.io, overlay2). hyperfine:
load and save {runs} runs each (the image removed before every load), images {images_runs} runs after 3 warm-ups.
Load average when the run began: {load}.

{table}
"""
print()
print(table)
with open(md_path, "w") as f:
    f.write(md)
PY
log "markdown fragment: $OUT/graph-benchmarks-$day.md (JSON beside it)"
