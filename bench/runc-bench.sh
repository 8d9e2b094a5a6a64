#!/usr/bin/env bash
# berth-runc against Debian's runc on the same busybox bundle, in the same run: create + start +
# wait + delete of `true`, as `<runtime> run` does it, measured by hyperfine (median of RUNS), and
# each runtime's peak RSS (GNU time's maximum resident set size over RSS_RUNS runs; for berth-runc
# that is the `run` process, whose init child is accounted separately and exits on exec).
#
# Usage: sudo bench/runc-bench.sh            (env: RUNS=50, RSS_RUNS=10, RUNC=/usr/sbin/runc,
#                                              BERTH_RUNC=<repo>/bin/berth-runc, OUT=artifacts/bench)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-50}
RSS_RUNS=${RSS_RUNS:-10}
RUNC=${RUNC:-/usr/sbin/runc}
BERTH_RUNC=${BERTH_RUNC:-$top/bin/berth-runc}
OUT=${OUT:-$top/artifacts/bench}

[ "$(id -u)" = 0 ] || { echo "runc-bench.sh must run as root" >&2; exit 1; }
for tool in hyperfine /usr/bin/time "$RUNC" "$BERTH_RUNC" /bin/busybox; do
  [ -x "$tool" ] || command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/runcbench.XXXXXX)
cleanup() {
  "$BERTH_RUNC" --root "$TMP/berth-state" delete -f bench >/dev/null 2>&1 || true
  "$RUNC" --root "$TMP/runc-state" delete -f bench >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$OUT"

# One bundle for both: busybox rootfs, the default spec with `true`, no terminal, no cgroup
# limits, so both runtimes do the same work (namespaces, mounts, pivot_root, caps, exec).
"$top/scripts/busybox-rootfs" "$TMP/bundle/rootfs" >/dev/null
(cd "$TMP/bundle" && "$RUNC" spec)
python3 - "$TMP/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["true"]
spec["root"]["readonly"] = True
json.dump(spec, open(path, "w"), indent=2)
PY

cd "$TMP/bundle"
hyperfine --warmup 3 --runs "$RUNS" --export-json "$OUT/runc-bench.json" \
  -n berth-runc "$BERTH_RUNC --root $TMP/berth-state run bench" \
  -n runc "$RUNC --root $TMP/runc-state run bench" >&2

peak_rss() { # KiB: the largest maximum RSS over RSS_RUNS runs
  local max=0 kb i
  for ((i = 0; i < RSS_RUNS; i++)); do
    /usr/bin/time -o "$TMP/rss" -f '%M' "$@" >/dev/null 2>&1
    kb=$(tail -1 "$TMP/rss")
    ((kb > max)) && max=$kb
  done
  echo "$max"
}
berth_rss=$(peak_rss "$BERTH_RUNC" --root "$TMP/berth-state" run bench)
runc_rss=$(peak_rss "$RUNC" --root "$TMP/runc-state" run bench)

python3 - "$OUT/runc-bench.json" "$berth_rss" "$runc_rss" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
b, r = results["berth-runc"]["median"] * 1000, results["runc"]["median"] * 1000
print(f"berth-runc run: median {b:.1f} ms   peak RSS {int(sys.argv[2]) / 1024:.1f} MiB")
print(f"runc run:       median {r:.1f} ms   peak RSS {int(sys.argv[3]) / 1024:.1f} MiB")
print(f"ratio berth-runc/runc: {b / r:.2f}x (target <= 0.5x)")
PY
