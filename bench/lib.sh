# Helpers the bench scripts share (sourced, not run): logging and stopping the processes a
# bench started, by pid only.

log() { printf '[bench] %s\n' "$*" >&2; }

pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# SIGTERM, wait up to $2 seconds, then SIGKILL.
stop_pid() {
  local pid=$1 grace=${2:-20} i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  log "pid $pid ignored SIGTERM for ${grace}s; SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
}

pidfile_pid() { [ -s "$1" ] && cat "$1" || true; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
