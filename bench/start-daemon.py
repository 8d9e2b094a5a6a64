#!/usr/bin/env python3
"""Launches a daemon in its own session and measures how long until its unix socket answers
GET /_ping with 200. Doing both in one process keeps the poller's own start-up out of the
measurement. Prints the elapsed milliseconds; exits non-zero if the daemon dies or times out.

Usage: start-daemon.py SOCKET LOGFILE TIMEOUT_SECONDS -- COMMAND [ARGS...]
"""
import socket
import subprocess
import sys
import time


def ping(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def main():
    sock, log, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    with open(log, "ab") as out:
        t0 = time.monotonic()
        # The daemon outlives this helper; the bench script stops it through its pidfile.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    while time.monotonic() - t0 < timeout:
        if ping(sock):
            print(f"{(time.monotonic() - t0) * 1000:.1f}")
            return 0
        if proc.poll() is not None:
            print(f"daemon exited with {proc.returncode}; see {log}", file=sys.stderr)
            return 1
        time.sleep(0.002)
    print(f"daemon did not answer /_ping within {timeout}s; see {log}", file=sys.stderr)
    return 1


sys.exit(main())
