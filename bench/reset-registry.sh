#!/usr/bin/env bash
# Starts (or wipes and restarts) a loopback registry for the benchmarks: KIND (docker|berth) PORT DIR.
# It runs detached with its output in DIR/log; DIR is under the bench's $TMP, so its argv names $TMP
# and the bench's cleanup stops it. berth-registry is $BERTH_REGISTRY. A hyperfine --prepare can call it.
set -euo pipefail
kind=$1 port=$2 dir=$3
mkdir -p "$dir"
if [ -s "$dir/pid" ]; then
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
fi
rm -rf "$dir/root"
if [ "$kind" = docker ]; then
  printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "127.0.0.1:%s"}\n' "$dir/root" "$port" >"$dir/config.yml"
  setsid docker-registry serve "$dir/config.yml" </dev/null >>"$dir/log" 2>&1 &
else
  setsid "$BERTH_REGISTRY" serve --addr "127.0.0.1:$port" --root "$dir/root" --log-level warn </dev/null >>"$dir/log" 2>&1 &
fi
echo $! >"$dir/pid"
for ((i = 0; i < 200; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && exit 0
  sleep 0.05
done
echo "registry on $port did not start" >&2
exit 1
