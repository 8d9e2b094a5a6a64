#!/usr/bin/env bash
# Registry benchmark, side by side in one run, on loopback:
#   - pull of a 5-layer image (busybox + 4 layers of $LAYER_MB MB random data): berth CLI -> berthd
#     against docker CLI -> dockerd, each from Debian's docker-registry and from berth-registry;
#   - push of that image by both engines to an empty docker-registry and an empty berth-registry
#     (each push run gets a registry wiped and restarted, so nothing can be skipped or mounted).
# The pull rows compare the engines for a given registry, and the registries for a given engine.
# Daemons and registries are private and torn down on exit (bench/daemons.sh).
# Needs root, hyperfine, python3, docker-registry, Debian's docker.io, a docker CLI, bin/berth-registry.
#
# Env: RUNS (hyperfine runs per command, default 5), LAYER_MB (12), DOCKER_CLI, DOCKERD,
#      OUT (where JSON and the markdown fragment go, default bench/out).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
LAYER_MB=${LAYER_MB:-12}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
OUT=${OUT:-$top/bench/out}

[ "$(id -u)" = 0 ] || { echo "registry-bench.sh must run as root" >&2; exit 1; }
for tool in hyperfine python3 docker-registry "$DOCKER_CLI" "$DOCKERD" "$top/bin/berth" "$top/bin/berthd" "$top/bin/berth-registry"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

# shellcheck source=bench/daemons.sh
. "$top/bench/daemons.sh"

load=$(cut -d' ' -f1-3 /proc/loadavg)
setup_daemons

export BERTH_REGISTRY=$top/bin/berth-registry
reset=$top/bench/reset-registry.sh

# Pull sources (kept) and push targets (wiped before every push run).
dreg=$(free_port); breg=$(free_port); dpush=$(free_port); bpush=$(free_port)
"$reset" docker "$dreg" "$TMP/reg-docker"
"$reset" berth "$breg" "$TMP/reg-berth"
"$reset" docker "$dpush" "$TMP/push-docker"
"$reset" berth "$bpush" "$TMP/push-berth"

# ---- the image: busybox plus 4 commits of random data, made by dockerd ----------------------
log "building the 5-layer image on dockerd (4 x $LAYER_MB MB)"
prev=busybox:latest
for i in 1 2 3 4; do
  "${dk_docker[@]}" run --network none --name "layer$i" "$prev" \
    dd if=/dev/urandom of="/data$i" bs=1M count="$LAYER_MB" 2>/dev/null
  "${dk_docker[@]}" commit "layer$i" "bench/five:$i" >/dev/null
  "${dk_docker[@]}" rm "layer$i" >/dev/null
  prev=bench/five:$i
done
from_docker=127.0.0.1:$dreg/bench/five:1
from_berth=127.0.0.1:$breg/bench/five:1
for ref in "$from_docker" "$from_berth"; do
  "${dk_docker[@]}" tag bench/five:4 "$ref"
  "${dk_docker[@]}" push -q "$ref" >/dev/null
done
# Nothing of the random layers may stay on dockerd: only busybox's layer is shared by both engines.
"${dk_docker[@]}" rmi bench/five:1 bench/five:2 bench/five:3 bench/five:4 "$from_docker" "$from_berth" >/dev/null

rm_both() { # CLI... : removes both pull names from that engine, quietly
  printf "sh -c '%s rmi -f %s >/dev/null 2>&1; %s rmi -f %s >/dev/null 2>&1; true'" "$*" "$from_docker" "$*" "$from_berth"
}

# ---- pull -----------------------------------------------------------------------------------
log "pull of the 5-layer image, $RUNS runs per command"
hyperfine -N --runs "$RUNS" --export-json "$TMP/pull.json" \
  --prepare "$(rm_both "${berth[*]}")" -n "berth CLI -> berthd <- docker-registry" "${berth[*]} pull -q $from_docker" \
  --prepare "$(rm_both "${dk_docker[*]}")" -n "docker CLI -> dockerd <- docker-registry" "${dk_docker[*]} pull -q $from_docker" \
  --prepare "$(rm_both "${berth[*]}")" -n "berth CLI -> berthd <- berth-registry" "${berth[*]} pull -q $from_berth" \
  --prepare "$(rm_both "${dk_docker[*]}")" -n "docker CLI -> dockerd <- berth-registry" "${dk_docker[*]} pull -q $from_berth"

# ---- push -----------------------------------------------------------------------------------
to_docker=127.0.0.1:$dpush/bench/five:1
to_berth=127.0.0.1:$bpush/bench/five:1
for cli in berth dk_docker; do
  declare -n c=$cli
  "${c[@]}" pull -q "$from_docker" >/dev/null
  "${c[@]}" tag "$from_docker" "$to_docker"
  "${c[@]}" tag "$from_docker" "$to_berth"
done
log "push of the 5-layer image to an empty registry, $RUNS runs per command"
hyperfine -N --runs "$RUNS" --export-json "$TMP/push.json" \
  --prepare "$reset docker $dpush $TMP/push-docker" -n "berth CLI -> berthd -> docker-registry" "${berth[*]} push -q $to_docker" \
  --prepare "$reset docker $dpush $TMP/push-docker" -n "docker CLI -> dockerd -> docker-registry" "${dk_docker[*]} push -q $to_docker" \
  --prepare "$reset berth $bpush $TMP/push-berth" -n "berth CLI -> berthd -> berth-registry" "${berth[*]} push -q $to_berth" \
  --prepare "$reset berth $bpush $TMP/push-berth" -n "docker CLI -> dockerd -> berth-registry" "${dk_docker[*]} push -q $to_berth"

# ---- report ---------------------------------------------------------------------------------
day=$(date -u +%F)
cp "$TMP/pull.json" "$OUT/registry-pull-$day.json"
cp "$TMP/push.json" "$OUT/registry-push-$day.json"
python3 - "$TMP" "$OUT/registry-benchmarks-$day.md" "$day" "$RUNS" "$LAYER_MB" "$(nproc)" "$load" \
  "$("${dk_docker[@]}" version --format '{{.Server.Version}}')" "$(docker-registry --version 2>/dev/null | awk '{print $3}')" <<'PY'
import json, sys

tmp, md_path, day, runs, layer_mb, cores, load, dockerd_ver, registry_ver = sys.argv[1:]
lines = ["| Operation | Path | Median (ms) | Min–max (ms) | vs dockerd, same registry |", "|---|---|--:|--:|--:|"]
for op in ("pull", "push"):
    with open(f"{tmp}/{op}.json") as f:
        res = {r["command"]: r for r in json.load(f)["results"]}
    for path, r in res.items():
        registry = path.split()[-1]
        base = next(v["median"] for k, v in res.items() if k.startswith("docker CLI") and k.endswith(registry))
        lines.append(f"| {op} | {path} | {r['median'] * 1000:.0f} | {r['min'] * 1000:.0f}–{r['max'] * 1000:.0f} | {r['median'] / base:.2f}x |")
table = "\n".join(lines)
md = f"""### {day}: registry

{cores} cores; load average when the run began: {load}. dockerd {dockerd_ver} (Debian docker.io),
docker-registry {registry_ver}, berth-registry from bin/. Image: busybox plus 4 layers of {layer_mb} MB
random data (5 layers); the busybox layer is already present in both engines. hyperfine, {runs} runs
per command; pulls start with the image removed, pushes with an empty, freshly started registry.

{table}
"""
print(table)
with open(md_path, "w") as f:
    f.write(md)
PY
log "markdown fragment: $OUT/registry-benchmarks-$day.md (JSON beside it)"
