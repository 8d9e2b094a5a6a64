#!/usr/bin/env bash
# First command: install dependencies, build bin/, start berthd on /run/berth/berth.sock (with its
# default bridge network, berth0), and make the local busybox image. Afterwards
# `bin/berth run --rm busybox echo hello` works.
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
scripts/install-deps
scripts/build

pidfile=/run/berth/berthd.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "stopping the running berthd ($(cat "$pidfile"))"
  kill "$(cat "$pidfile")"
  for _ in $(seq 100); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
fi
mkdir -p /var/log
setsid bin/berthd --pidfile "$pidfile" >>/var/log/berthd.log 2>&1 < /dev/null &
for _ in $(seq 100); do bin/berth version >/dev/null 2>&1 && break; sleep 0.1; done
bin/berth version >/dev/null || { echo "berthd did not start; see /var/log/berthd.log" >&2; tail -20 /var/log/berthd.log >&2; exit 1; }
echo "berthd is running (log: /var/log/berthd.log)"
scripts/make-busybox-image
bin/berth images busybox
