#!/usr/bin/env bash
# Side-by-side benchmark of Berth against Docker's dockerd on this machine, in one run:
#   - `run --rm busybox true`: berth CLI -> berthd, docker CLI -> berthd, docker CLI -> dockerd
#   - daemon start (launch until /_ping answers): berthd and dockerd
#   - `ps -a` with $PS_CONTAINERS containers present
# Both daemons are private (own sockets, data roots, exec roots, containerd namespaces) and are
# torn down on exit, leaving no mounts, processes, cgroups or temp files.
# Needs root, hyperfine, python3, Debian's docker.io (/usr/sbin/dockerd) and a docker CLI.
#
# Env: RUNS (hyperfine runs, default 20), BERTHD_STARTS (5), DOCKERD_STARTS (3),
#      PS_CONTAINERS (20), PULL_MB (200), PULL_RUNS (5), DOCKER_CLI (/usr/local/bin/docker), DOCKERD (/usr/sbin/dockerd),
#      OUT (where JSON and the markdown fragment are kept, default bench/out).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-20}
BERTHD_STARTS=${BERTHD_STARTS:-5}
DOCKERD_STARTS=${DOCKERD_STARTS:-3}
PS_CONTAINERS=${PS_CONTAINERS:-20}
PULL_MB=${PULL_MB:-200}
PULL_RUNS=${PULL_RUNS:-5}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
OUT=${OUT:-$top/bench/out}

[ "$(id -u)" = 0 ] || { echo "run-bench.sh must run as root" >&2; exit 1; }
for tool in hyperfine python3 "$DOCKER_CLI" "$DOCKERD" "$top/bin/berth" "$top/bin/berthd"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

. "$top/bench/daemons.sh"

# ---- set up both daemons and the busybox image -------------------------------------------
# The machine may be shared; the load at the start goes into the report.
load=$(cut -d' ' -f1-3 /proc/loadavg)
setup_daemons

# Sanity: each path really runs the container.
for cli in berth dk_berth dk_docker; do
  declare -n c=$cli
  out=$("${c[@]}" run --rm busybox echo ok)
  [ "$out" = ok ] || { log "$cli: run --rm busybox echo ok printed '$out'"; exit 1; }
done

# ---- daemon start ------------------------------------------------------------------------
log "berthd start x$BERTHD_STARTS"
: >"$TMP/berthd-start.txt"
for ((i = 0; i < BERTHD_STARTS; i++)); do
  stop_berthd
  start_berthd >>"$TMP/berthd-start.txt"
done
log "dockerd start x$DOCKERD_STARTS"
: >"$TMP/dockerd-start.txt"
for ((i = 0; i < DOCKERD_STARTS; i++)); do
  stop_dockerd
  start_dockerd >>"$TMP/dockerd-start.txt"
done

# ---- run --rm busybox true ---------------------------------------------------------------
log "run --rm busybox true, $RUNS runs each"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$TMP/run.json" \
  -n "berth CLI -> berthd" "${berth[*]} run --rm busybox true" \
  -n "docker CLI -> berthd" "${dk_berth[*]} run --rm busybox true" \
  -n "docker CLI -> dockerd" "${dk_docker[*]} run --rm busybox true"

# ---- ps -a with containers present -------------------------------------------------------
log "creating $PS_CONTAINERS containers on each daemon"
for ((i = 0; i < PS_CONTAINERS; i++)); do
  "${berth[@]}" create busybox true >/dev/null
  "${dk_docker[@]}" create busybox true >/dev/null
done
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$TMP/ps.json" \
  -n "berth CLI -> berthd" "${berth[*]} ps -a" \
  -n "docker CLI -> berthd" "${dk_berth[*]} ps -a" \
  -n "docker CLI -> dockerd" "${dk_docker[*]} ps -a"

# ---- pull from a loopback docker-registry ------------------------------------------------
# One layer of $PULL_MB MB of random bytes (incompressible: the download, hash and extraction
# dominate), pushed once by berthd, then pulled by each engine after removing its copy.
# dockerd treats 127.0.0.0/8 registries as insecure by default, as berthd does.
if command -v docker-registry >/dev/null; then
  reg_port=$(free_port)
  mkdir -p "$TMP/big"
  "$top/bench/reset-registry.sh" docker "$reg_port" "$TMP/registry"
  big="127.0.0.1:$reg_port/bench/big:1"
  head -c "${PULL_MB}M" /dev/urandom >"$TMP/big/blob"
  tar -C "$TMP/big" -c . | "${berth[@]}" import - "$big" >/dev/null
  rm -rf "$TMP/big"
  "${berth[@]}" push "$big" >/dev/null
  log "pull of a ${PULL_MB} MB single-layer image, $PULL_RUNS runs each"
  hyperfine -N --runs "$PULL_RUNS" --export-json "$TMP/pull.json" \
    --prepare "sh -c '${berth[*]} rmi -f $big >/dev/null 2>&1; true'" \
    --prepare "sh -c '${dk_docker[*]} rmi -f $big >/dev/null 2>&1; true'" \
    -n "berth CLI -> berthd" "${berth[*]} pull -q $big" \
    -n "docker CLI -> dockerd" "${dk_docker[*]} pull -q $big"
fi

# ---- report ------------------------------------------------------------------------------
day=$(date -u +%F)
cp "$TMP/run.json" "$OUT/run-$day.json"
cp "$TMP/ps.json" "$OUT/ps-$day.json"
[ -f "$TMP/pull.json" ] && cp "$TMP/pull.json" "$OUT/pull-$day.json"
python3 - "$TMP" "$OUT/benchmarks-$day.md" "$day" "$RUNS" "$PS_CONTAINERS" \
  "$(nproc)" "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(uname -r)" \
  "$("${dk_docker[@]}" version --format '{{.Server.Version}}')" \
  "$("$DOCKER_CLI" version --format '{{.Client.Version}}' 2>/dev/null)" "$load" <<'PY'
import json, statistics, sys

tmp, md_path, day, runs, nps, cores, os_name, kernel, dockerd_ver, cli_ver, load = sys.argv[1:]

def hf(name):
    with open(f"{tmp}/{name}.json") as f:
        return {r["command"]: r for r in json.load(f)["results"]}

def starts(name):
    with open(f"{tmp}/{name}-start.txt") as f:
        return [float(x) / 1000 for x in f.read().split()]

run, ps = hf("run"), hf("ps")
bs, ds = starts("berthd"), starts("dockerd")
ref = "docker CLI -> dockerd"
measured = [("run --rm busybox true", run), (f"ps -a ({nps} containers)", ps)]
import os
if os.path.exists(f"{tmp}/pull.json"):
    measured.append(("pull, one random-data layer, loopback docker-registry", hf("pull")))

rows = []  # (measurement, path, median s, spread text, ratio to dockerd)
for title, res in measured:
    base = res[ref]["median"]
    for path, r in res.items():
        spread = f"{r['min'] * 1000:.1f}–{r['max'] * 1000:.1f}"
        rows.append((title, path, r["median"], spread, r["median"] / base))
bm, dm = statistics.median(bs), statistics.median(ds)
rows.append(("daemon start to /_ping", "berthd", bm, f"{min(bs) * 1000:.1f}–{max(bs) * 1000:.1f}", bm / dm))
rows.append(("daemon start to /_ping", "dockerd + containerd", dm, f"{min(ds) * 1000:.1f}–{max(ds) * 1000:.1f}", 1.0))

head = "| Measurement | Path | Median (ms) | Min–max (ms) | vs dockerd |"
lines = [head, "|---|---|--:|--:|--:|"]
for title, path, med, spread, ratio in rows:
    lines.append(f"| {title} | {path} | {med * 1000:.1f} | {spread} | {ratio:.2f}x |")
table = "\n".join(lines)

md = f"""### {day}

Machine: {cores} cores, {os_name}, kernel {kernel}. dockerd {dockerd_ver} (Debian docker.io)
with the containerd it spawns; docker CLI {cli_ver}. `run` and `ps` rows: hyperfine,
{runs} runs after 3 warm-ups; daemon start: {len(bs)} berthd starts, {len(ds)} dockerd starts.
Load average when the run began: {load}.

{table}
"""
print()
print(table)
with open(md_path, "w") as f:
    f.write(md)
PY
log "markdown fragment: $OUT/benchmarks-$day.md (JSON beside it)"
