# Shared by the bench scripts (sourced, not run): a private berthd and a private dockerd (Debian's
# docker.io, which spawns its own containerd), each with its own socket, data root, exec root and
# containerd namespaces, and a cleanup trap that removes everything they made: containers, both
# daemons and the containerd, mounts under the temp dir, the temp dir, dockerd's cgroup parent.
# The sourcing script sets top, DOCKER_CLI and DOCKERD first, and may set DATA_FS=ext4 to put both
# daemons' data roots on a fresh journaled ext4 (a loop image under the temp dir). Benchmarks that
# create and delete many files need it: this VM's root ext4 runs without a journal, and in that mode
# ext4 skips every recently deleted inode on each create (scanning them in the buffer cache), so a
# load right after an rmi of the same 30k files cost 5-25 s of kernel time in either daemon, at
# random. A journaled ext4 is what a typical host has.

TMP=$(mktemp -d /tmp/berthbench.XXXXXX)
tag=$(basename "$TMP")
berth_sock=$TMP/berth.sock
docker_sock=$TMP/docker.sock
# dockerd's containers go under a cgroup parent of our own, so cleanup can remove it.
cgroup_parent=/$tag
berth=("$top/bin/berth" -H "unix://$berth_sock")
dk_berth=("$DOCKER_CLI" -H "unix://$berth_sock")
dk_docker=("$DOCKER_CLI" -H "unix://$docker_sock")

# The user's docker config and context must neither steer nor be touched by the bench.
export DOCKER_CONFIG=$TMP/docker-config
unset DOCKER_HOST DOCKER_CONTEXT BERTH_HOST
mkdir -p "$DOCKER_CONFIG" "$OUT"

. "$top/bench/lib.sh"

data=$TMP
[ "${DATA_FS:-host}" = ext4 ] && data=$TMP/fs

berthd_cmd=("$top/bin/berthd" -H "unix://$berth_sock" --data-root "$data/berth-data"
  --exec-root "$TMP/berth-exec" --bridge none --pidfile "$TMP/berthd.pid")
# No --containerd: dockerd 20.10 then spawns its own containerd under exec-root (it would use
# a system containerd at /run/containerd/containerd.sock, which start_dockerd rules out).
dockerd_cmd=("$DOCKERD" -H "unix://$docker_sock" --data-root "$data/docker-data"
  --exec-root "$TMP/docker-exec" --pidfile "$TMP/dockerd.pid" --bridge none --iptables=false
  --ip6tables=false --ip-masq=false --containerd-namespace berthbench
  --containerd-plugins-namespace berthbenchp --cgroup-parent "$cgroup_parent"
  --oom-score-adjust 0)

# Prints the milliseconds from launch until /_ping answers.
start_berthd() {
  python3 "$top/bench/start-daemon.py" "$berth_sock" "$TMP/berthd.log" 30 -- "${berthd_cmd[@]}"
}
start_dockerd() {
  if [ -S /run/containerd/containerd.sock ]; then
    log "note: a system containerd is running; dockerd 20.10 uses it instead of its own"
  fi
  python3 "$top/bench/start-daemon.py" "$docker_sock" "$TMP/dockerd.log" 120 -- "${dockerd_cmd[@]}"
}
stop_berthd() { stop_pid "$(pidfile_pid "$TMP/berthd.pid")" 20; }
stop_dockerd() {
  local containerd_pid
  containerd_pid=$(pidfile_pid "$TMP/docker-exec/containerd/containerd.pid")
  stop_pid "$(pidfile_pid "$TMP/dockerd.pid")" 30
  # dockerd stops the containerd it spawned; make sure.
  stop_pid "$containerd_pid" 10
}

remove_containers() {
  local ids
  ids=$("$@" ps -aq 2>/dev/null) || return 0
  [ -z "$ids" ] || "$@" rm -f $ids >/dev/null 2>&1 || true
}

cleanup() {
  local rc=$? pid mnt
  trap - EXIT INT TERM
  set +e
  log "cleaning up"
  [ -S "$berth_sock" ] && remove_containers "${berth[@]}"
  [ -S "$docker_sock" ] && remove_containers "${dk_docker[@]}"
  stop_berthd
  stop_dockerd
  # Anything still running from our tree: shims of either engine carry $TMP in their argv.
  for pid in $(pgrep -f "$TMP/"); do
    [ "$pid" = $$ ] || stop_pid "$pid" 5
  done
  # Deepest mount points first; mountinfo field 5 is the mount point.
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

if [ "$data" != "$TMP" ]; then
  truncate -s "${DATA_FS_SIZE:-8G}" "$TMP/fs.img"
  mkfs.ext4 -q -F "$TMP/fs.img"
  mkdir -p "$data"
  mount -o loop "$TMP/fs.img" "$data"
fi

# Both daemons started, each with the busybox image imported from the same tar.
setup_daemons() {
  log "temp dir $TMP"
  "$top/scripts/busybox-rootfs" "$TMP/rootfs"
  tar -C "$TMP/rootfs" --numeric-owner -cf "$TMP/busybox.tar" .

  log "starting berthd"
  start_berthd >/dev/null
  "${berth[@]}" version >/dev/null
  "${berth[@]}" import --change 'CMD ["sh"]' - busybox:latest <"$TMP/busybox.tar" >/dev/null

  log "starting dockerd (it starts its own containerd)"
  start_dockerd >/dev/null
  "${dk_docker[@]}" version >/dev/null
  "${dk_docker[@]}" import --change 'CMD ["sh"]' - busybox:latest <"$TMP/busybox.tar" >/dev/null
}
