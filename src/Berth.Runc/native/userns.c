/*
 * berth-runc's pre-main stage: entering a user namespace (docs/runtime.md, "The C stage").
 *
 * unshare(CLONE_NEWUSER) and setns() into a user namespace fail with EINVAL in a multithreaded
 * process, and the .NET runtime starts threads before Main. This constructor runs before the
 * runtime boots, while the process still has a single thread. It does nothing unless the runtime
 * that spawned this process set _BERTH_USERNS, so every other berth-runc command pays one getenv.
 *
 * _BERTH_USERNS = "SYNC FLAGS USERNS PIDNS": the sync socket's fd, the CLONE_NEW* flags of the
 * namespaces to create (user excluded), an fd of a user namespace to join or -1 for a new one,
 * and an fd of a pid namespace to join or -1. The steps:
 *   1. join the user namespace, or unshare a new one and let the runtime write uid_map/gid_map;
 *   2. become uid/gid 0 of that namespace;
 *   3. unshare the other namespaces, now owned by the user namespace (mounting proc, sysfs and
 *      mqueue inside it requires that), and join the pid namespace, which applies to children;
 *   4. clone init with CLONE_PARENT, so it is the runtime's child and is born in the new pid
 *      namespace, report its pid and exit. Init re-executes the binary before anything else:
 *      a raw clone leaves glibc's cached thread id of the main thread stale, and the .NET
 *      runtime signals threads by that id, so the runtime must start in a fresh image.
 *
 * Messages use the sync protocol's format (one JSON object per line, Sync.cs), so the runtime
 * reads them with the same reader: {"type":"idmap"} <- {"type":"idmapped"}, then
 * {"type":"pid","pid":N} or {"type":"error","message":"..."}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STAGE_ENV "_BERTH_USERNS"

static int sync_fd = -1;

static void send_line(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(sync_fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* the runtime is gone; it no longer needs to hear from us */
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Reports "CALL SUBJECT: strerror" as a sync error message and exits; the runtime reaps us. */
__attribute__((noreturn)) static void fail(const char *call, const char *subject, int err)
{
	char text[256], line[600];
	size_t o;
	snprintf(text, sizeof text, "%s %s: %s", call, subject, strerror(err));
	o = (size_t)snprintf(line, sizeof line, "{\"type\":\"error\",\"message\":\"");
	for (const char *p = text; *p && o < sizeof line - 8; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			line[o++] = '\\';
			line[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(line + o, 7, "\\u%04x", c);
		} else {
			line[o++] = (char)c;
		}
	}
	memcpy(line + o, "\"}\n", 3);
	send_line(line, o + 3);
	_exit(1);
}

/* Waits until the runtime has written our uid_map and gid_map; anything else ends the stage. */
static void await_idmapped(void)
{
	static const char expected[] = "{\"type\":\"idmapped\"}\n";
	char line[sizeof expected];
	size_t got = 0;
	while (got < sizeof expected - 1) {
		ssize_t n = read(sync_fd, line + got, sizeof expected - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1); /* the runtime died or gave up on us */
		got += (size_t)n;
	}
	if (memcmp(line, expected, sizeof expected - 1) != 0)
		_exit(1);
}

static void join(int fd, int type, const char *what)
{
	if (setns(fd, type) < 0)
		fail("setns", what, errno);
	close(fd);
}

__attribute__((constructor)) static void berth_userns_stage(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)envp;
	const char *config = getenv(STAGE_ENV);
	if (config == NULL)
		return;
	int flags, userns, pidns;
	if (sscanf(config, "%d %i %d %d", &sync_fd, &flags, &userns, &pidns) != 4)
		_exit(1);
	/* Init re-executes itself with this environment; it must not run the stage again. */
	unsetenv(STAGE_ENV);

	/* Joined while still in the host's user namespace, whose root may enter any pid namespace. */
	if (pidns >= 0)
		join(pidns, CLONE_NEWPID, "pid namespace");
	if (userns >= 0) {
		join(userns, CLONE_NEWUSER, "user namespace");
	} else {
		if (unshare(CLONE_NEWUSER) < 0)
			fail("unshare", "user namespace", errno);
		static const char idmap[] = "{\"type\":\"idmap\"}\n";
		send_line(idmap, sizeof idmap - 1);
		await_idmapped();
	}
	/*
	 * Still the host's uid 0, which is unmapped in here: files init creates would fail with
	 * EOVERFLOW. Switching from an id that is not the namespace's root to its root keeps the
	 * capabilities unshare/setns gave us. Supplementary groups are set later, by init, from
	 * the spec (setgroups stays allowed: the runtime writing gid_map holds CAP_SETGID).
	 */
	if (setresgid(0, 0, 0) < 0)
		fail("setresgid", "0 in the user namespace", errno);
	if (setresuid(0, 0, 0) < 0)
		fail("setresuid", "0 in the user namespace", errno);
	if (flags != 0 && unshare(flags) < 0)
		fail("unshare", "namespaces", errno);

	pid_t child = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (child < 0)
		fail("clone", "init", errno);
	if (child == 0) {
		/* The stage was the session leader the runtime asked for; init must be one (TIOCSCTTY). */
		if (setsid() < 0)
			_exit(127);
		execv("/proc/self/exe", argv);
		_exit(127); /* the runtime sees init die before ready, with this status */
	}
	char line[64];
	int len = snprintf(line, sizeof line, "{\"type\":\"pid\",\"pid\":%d}\n", child);
	send_line(line, (size_t)len);
	_exit(0);
}
