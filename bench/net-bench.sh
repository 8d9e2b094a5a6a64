#!/usr/bin/env bash
# Networking benchmark, Berth against Docker's dockerd, side by side in one run:
#   - the extra cost of bridge networking in `run --rm busybox true`: the default bridge minus
#     `--network none`, berth CLI -> berthd and docker CLI -> dockerd, runs interleaved;
#   - throughput from a container to the host over a published port: busybox httpd in the
#     container serves a file of $XFER_MB MB, curl reads it through 127.0.0.1:HOSTPORT (each
#     engine's userland proxy), and straight from the container's address (no proxy) for scale.
# Each daemon runs inside a network namespace this script creates (entered with `nsenter --net`
# only: `ip netns exec` would also remount /sys and hide the cgroup mounts dockerd needs), with its
# own socket, data root, exec root, pidfile and a private bridge, so neither touches the host's
# networking; bridges, veths and firewall rules die with the namespaces, which the cleanup
# deletes after stopping every process in them.
# Needs root, python3, curl, iproute2, Debian's docker.io (/usr/sbin/dockerd, docker-proxy) and
# a docker CLI.
#
# Env: RUNS (interleaved rounds of the four run commands, default 30), XFER_MB (256),
#      XFER_RUNS (5), DOCKER_CLI (/usr/local/bin/docker), DOCKERD (/usr/sbin/dockerd),
#      OUT (where the results and the markdown fragment are kept, default bench/out).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-30}
XFER_MB=${XFER_MB:-256}
XFER_RUNS=${XFER_RUNS:-5}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
OUT=${OUT:-$top/bench/out}
. "$top/bench/lib.sh"

[ "$(id -u)" = 0 ] || { echo "net-bench.sh must run as root" >&2; exit 1; }
for tool in python3 curl ip nsenter "$DOCKER_CLI" "$DOCKERD" "$top/bin/berth" "$top/bin/berthd"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/berthnet.XXXXXX)
tag=$(basename "$TMP")
suffix=${tag#berthnet.}
ns_b=bnb-$suffix
ns_d=bnd-$suffix
berth_sock=$TMP/berth.sock
docker_sock=$TMP/docker.sock
cgroup_parent=/$tag
berth=("$top/bin/berth" -H "unix://$berth_sock")
dk_docker=("$DOCKER_CLI" -H "unix://$docker_sock")
export DOCKER_CONFIG=$TMP/docker-config
unset DOCKER_HOST DOCKER_CONTEXT BERTH_HOST
mkdir -p "$DOCKER_CONFIG" "$OUT"

# Both on a private bridge and /24; the namespaces keep them apart from the host's anyway.
berthd_cmd=(nsenter --net="/run/netns/$ns_b" "$top/bin/berthd" -H "unix://$berth_sock" --data-root "$TMP/berth-data"
  --exec-root "$TMP/berth-exec" --pidfile "$TMP/berthd.pid" --bridge "bnb$suffix" --bip 10.201.7.1/24)
dockerd_cmd=(nsenter --net="/run/netns/$ns_d" "$DOCKERD" -H "unix://$docker_sock" --data-root "$TMP/docker-data"
  --exec-root "$TMP/docker-exec" --pidfile "$TMP/dockerd.pid" --bridge "bnd$suffix"
  --containerd-namespace berthnetbench --containerd-plugins-namespace berthnetbenchp
  --cgroup-parent "$cgroup_parent" --oom-score-adjust 0)

stop_berthd() { stop_pid "$(pidfile_pid "$TMP/berthd.pid")" 20; }
stop_dockerd() {
  local containerd_pid
  containerd_pid=$(pidfile_pid "$TMP/docker-exec/containerd/containerd.pid")
  stop_pid "$(pidfile_pid "$TMP/dockerd.pid")" 30
  stop_pid "$containerd_pid" 10
}

remove_containers() {
  local ids
  ids=$("$@" ps -aq 2>/dev/null) || return 0
  [ -z "$ids" ] || "$@" rm -f $ids >/dev/null 2>&1 || true
}

cleanup() {
  local rc=$? pid mnt ns d
  trap - EXIT INT TERM
  set +e
  log "cleaning up"
  [ -S "$berth_sock" ] && remove_containers "${berth[@]}"
  [ -S "$docker_sock" ] && remove_containers "${dk_docker[@]}"
  stop_berthd
  stop_dockerd
  # Whatever is left in our namespaces (shims, proxies, containers) is ours.
  for ns in "$ns_b" "$ns_d"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns"); do stop_pid "$pid" 5; done
    ip netns del "$ns"
  done
  for pid in $(pgrep -f "$TMP/"); do
    [ "$pid" = $$ ] || stop_pid "$pid" 5
  done
  for mnt in $(awk -v t="$TMP" 'index($5, t) == 1 { print length($5) " " $5 }' /proc/self/mountinfo |
               sort -rn | cut -d' ' -f2-); do
    umount -l "$mnt" 2>/dev/null
  done
  rm -rf "$TMP"
  for d in /sys/fs/cgroup/*/"$tag"; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- namespaces, daemons, the busybox image ----------------------------------------------
log "temp dir $TMP, namespaces $ns_b (berthd) and $ns_d (dockerd)"
load=$(cut -d' ' -f1-3 /proc/loadavg)
for ns in "$ns_b" "$ns_d"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
# dockerd's --bridge names a bridge that must already exist; it takes its address from it.
ip -n "$ns_d" link add "bnd$suffix" type bridge
ip -n "$ns_d" addr add 10.202.7.1/24 dev "bnd$suffix"
ip -n "$ns_d" link set "bnd$suffix" up

"$top/scripts/busybox-rootfs" "$TMP/rootfs"
tar -C "$TMP/rootfs" --numeric-owner -cf "$TMP/busybox.tar" .

log "starting berthd and dockerd"
python3 "$top/bench/start-daemon.py" "$berth_sock" "$TMP/berthd.log" 30 -- "${berthd_cmd[@]}" >/dev/null
python3 "$top/bench/start-daemon.py" "$docker_sock" "$TMP/dockerd.log" 120 -- "${dockerd_cmd[@]}" >/dev/null
"${berth[@]}" import --change 'CMD ["sh"]' - busybox:latest <"$TMP/busybox.tar" >/dev/null
"${dk_docker[@]}" import --change 'CMD ["sh"]' - busybox:latest <"$TMP/busybox.tar" >/dev/null

# Sanity: both modes really give (or don't give) the container an eth0 on each engine.
for cli in berth dk_docker; do
  declare -n c=$cli
  [ "$("${c[@]}" run --rm busybox sh -c 'ip -o -4 addr show eth0 | wc -l')" = 1 ] || { log "$cli: no eth0 on the bridge"; exit 1; }
  [ "$("${c[@]}" run --rm --network none busybox sh -c 'ls /sys/class/net | wc -l')" = 1 ] || { log "$cli: --network none has more than lo"; exit 1; }
done

# ---- run --rm busybox true: bridge against none, interleaved -----------------------------
log "run --rm busybox true, bridge and none, $RUNS interleaved rounds"
python3 - "$TMP/run.json" "$RUNS" \
  "berth:none" "${berth[*]} run --rm --network none busybox true" \
  "berth:bridge" "${berth[*]} run --rm busybox true" \
  "docker:none" "${dk_docker[*]} run --rm --network none busybox true" \
  "docker:bridge" "${dk_docker[*]} run --rm busybox true" <<'PY'
import json, subprocess, sys, time
out, rounds, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
cmds = list(zip(pairs[0::2], pairs[1::2]))
times = {name: [] for name, _ in cmds}
for r in range(rounds + 2):  # two warm-up rounds, not kept
    # Each round in a different order, so no command always follows the same one.
    order = cmds[r % len(cmds):] + cmds[:r % len(cmds)]
    for name, cmd in order:
        t0 = time.monotonic()
        subprocess.run(cmd.split(), check=True, stdout=subprocess.DEVNULL)
        if r >= 2:
            times[name].append(time.monotonic() - t0)
json.dump(times, open(out, "w"))
PY

# ---- throughput over a published port ----------------------------------------------------
serve="dd if=/dev/zero of=/big bs=1M count=$XFER_MB 2>/dev/null && exec httpd -f -p 80 -h /"
b_id=$("${berth[@]}" run -d -p 127.0.0.1::80 busybox sh -c "$serve")
d_id=$("${dk_docker[@]}" run -d -p 127.0.0.1::80 busybox sh -c "$serve")
b_port=$("${berth[@]}" port "$b_id" 80/tcp | cut -d: -f2)
d_port=$("${dk_docker[@]}" port "$d_id" 80/tcp | cut -d: -f2)
b_ip=$("${berth[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' "$b_id")
d_ip=$("${dk_docker[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' "$d_id")
fetch() { ip netns exec "$1" curl -sf -o /dev/null -w '%{size_download} %{time_total}\n' "http://$2/big"; }
for ((i = 0; i < 300; i++)); do
  fetch "$ns_b" "127.0.0.1:$b_port" >/dev/null 2>&1 && fetch "$ns_d" "127.0.0.1:$d_port" >/dev/null 2>&1 && break
  sleep 0.2
done
log "throughput: $XFER_MB MB, $XFER_RUNS interleaved fetches per path"
: >"$TMP/xfer.txt"
for ((i = 0; i < XFER_RUNS; i++)); do
  echo "berth:published $(fetch "$ns_b" "127.0.0.1:$b_port")" >>"$TMP/xfer.txt"
  echo "docker:published $(fetch "$ns_d" "127.0.0.1:$d_port")" >>"$TMP/xfer.txt"
  echo "berth:direct $(fetch "$ns_b" "$b_ip:80")" >>"$TMP/xfer.txt"
  echo "docker:direct $(fetch "$ns_d" "$d_ip:80")" >>"$TMP/xfer.txt"
done

# ---- report ------------------------------------------------------------------------------
day=$(date -u +%F)
cp "$TMP/run.json" "$OUT/net-run-$day.json"
cp "$TMP/xfer.txt" "$OUT/net-xfer-$day.txt"
python3 - "$TMP" "$OUT/net-benchmarks-$day.md" "$day" "$RUNS" "$XFER_MB" "$XFER_RUNS" "$(nproc)" "$(uname -r)" \
  "$("${dk_docker[@]}" version --format '{{.Server.Version}}')" "$load" <<'PY'
import json, statistics, sys
tmp, md_path, day, runs, mb, xruns, cores, kernel, dockerd_ver, load = sys.argv[1:]
t = json.load(open(f"{tmp}/run.json"))
med = {k: statistics.median(v) * 1000 for k, v in t.items()}
rng = {k: f"{min(v) * 1000:.1f}–{max(v) * 1000:.1f}" for k, v in t.items()}
# The bridge's extra cost per round (bridge minus none of the same round, run close together),
# then the median: on a shared machine this pairs away most of the load drift.
extra = {e: statistics.median(b - n for b, n in zip(t[f"{e}:bridge"], t[f"{e}:none"])) * 1000 for e in ("berth", "docker")}
lines = ["| Engine | --network none (ms) | default bridge (ms) | bridge extra, paired (ms) |", "|---|--:|--:|--:|"]
for e, label in (("berth", "berth CLI -> berthd"), ("docker", "docker CLI -> dockerd")):
    lines.append(f"| {label} | {med[e + ':none']:.1f} ({rng[e + ':none']}) | {med[e + ':bridge']:.1f} ({rng[e + ':bridge']}) | {extra[e]:.1f} |")
ratio = extra["berth"] / extra["docker"] if extra["docker"] > 0 else float("nan")
x = {}
for line in open(f"{tmp}/xfer.txt"):
    name, size, secs = line.split()
    x.setdefault(name, []).append(int(size) / float(secs) / 1e6)
xl = ["| Path | Berth (MB/s) | Docker (MB/s) | Berth / Docker |", "|---|--:|--:|--:|"]
for path, label in (("published", "127.0.0.1:HOSTPORT (userland proxy)"), ("direct", "container address (no proxy)")):
    b, d = statistics.median(x[f"berth:{path}"]), statistics.median(x[f"docker:{path}"])
    xl.append(f"| {label} | {b:.0f} | {d:.0f} | {b / d:.2f}x |")
md = f"""### {day}

Machine: {cores} cores, kernel {kernel}; dockerd {dockerd_ver} (Debian docker.io, iptables and
docker-proxy); each daemon in its own network namespace. Run rows: medians of {runs}
interleaved rounds (min–max in brackets); the extra cost is the median of each round's
bridge-minus-none difference. Load average when the run began: {load}.

{chr(10).join(lines)}

Berth's extra cost of bridge networking is **{ratio:.2f}x** Docker's.

Throughput, a {mb} MB file from busybox httpd in the container to curl in the daemon's
namespace, median of {xruns} fetches per path:

{chr(10).join(xl)}
"""
print(md)
open(md_path, "w").write(md)
PY
log "markdown fragment: $OUT/net-benchmarks-$day.md"
