/*-------------------------------------------------------------------------
 *
 * pg_postmaster_stats_bpf.c
 *	  Least-privilege loader of pps.bpf.c for one postmaster.
 *
 *	  pg_postmaster_stats_bpf --pid <postmaster pid> --fd <socket fd>
 *		  [--title-skip N] [--sample-hz N | --no-sample] [--no-syscalls]
 *		  [--snapshot-range 0xSTART-0xEND] [--verbose]
 *
 * Installed mode 0750, group of the server's OS user, with file
 * capabilities cap_bpf,cap_perfmon (make install-caps), so that the
 * sampler worker, which has no privileges, can count its own postmaster's
 * forks, exits and reaps.  Loading programs that watch every syscall of the
 * machine is powerful, so before loading the loader insists on:
 *	 - --fd being a Unix socket (the reply channel; checked first so every
 *	   later refusal reaches the worker too),
 *	 - --pid being a process of the same real user,
 *	 - that process being a real postmaster of this installation: its
 *	   executable is the postgres binary of the loader's own bindir
 *	   (PPS_POSTGRES_PATH, compared by device and inode), its cwd is its
 *	   data directory, and the postmaster.pid there was written by it: its
 *	   pid (a backend has the same cwd but another pid; a standalone
 *	   backend writes its pid negated), that very data directory, and a
 *	   start time within seconds of the process's own,
 *	 - --snapshot-range, if given (GetSnapshotData's code: the sampling
 *	   program counts the server's samples inside it), lying inside one
 *	   executable, file-backed mapping of that postmaster,
 *	 - the caller (our parent) being a child of that postmaster running
 *	   the same executable, and the extension's sampler: it queued a
 *	   one-time token on the socket that matches the token file it wrote,
 *	   naming its pid, into the data directory, which only the server's
 *	   own user can write (struct pps_bpf_request),
 *	 - no other set of links for that postmaster being alive: a lock file
 *	   in the data directory, locked here and handed to the worker with
 *	   the links, so the lock lives exactly as long as they do,
 *	 - running in the host's PID namespace, as the programs compare the
 *	   pids the kernel sees.
 * Then it loads the programs keyed on the postmaster's pid and start time
 * (so that a process that later gets the same pid matches nothing),
 * attaches them, drops every capability, checks that they are gone, and
 * sends the .bss map fd, the program fds (for their run statistics only),
 * the link fds and the lock fd over the socket
 * (SCM_RIGHTS) with a struct pps_bpf_hello, and exits.  The programs stay
 * attached for as long as the worker keeps the link fds.
 *
 * Every refusal is one line on stderr naming the failed step and the fix,
 * also sent in the hello, and a distinct exit code (PPS_BPF_EXIT_*).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include <bpf/libbpf.h>

#include "pps_bpf.h"
#include "pps.skel.h"

#define PROG "pg_postmaster_stats_bpf"
#define HOST_PID_NS "pid:[4026531836]"	/* PROC_PID_INIT_INO, fixed */
#define DEFAULT_SAMPLE_HZ 99
#define MAX_SAMPLE_HZ 1000
#define MAX_TITLE_SKIP 256
#define MAX_SNAPSHOT_RANGE (1024 * 1024)	/* bytes; GetSnapshotData is ~2 kB */
#define REQUEST_TIMEOUT_MS 5000
/*
 * postmaster.pid's start time is the postmaster's time(NULL) when it
 * started, a little after the process was forked: allow that much.
 */
#define START_SLACK_BEFORE 2	/* seconds; tick and boot-time rounding */
#define START_SLACK_AFTER 60

#ifndef PPS_POSTGRES_PATH
#error "PPS_POSTGRES_PATH (the postgres executable of this installation) must be defined"
#endif

/* what check_postmaster learnt, for the programs' identity check */
static unsigned long long pm_start_ticks;
static struct stat pm_exe;

static int	reply_fd = -1;		/* the worker's socket, once validated */
static bool verbose = false;

/* One-line refusal: stderr, the worker (if the socket is usable), exit. */
static void
fail(int code, const char *fmt,...) __attribute__((format(printf, 2, 3), noreturn));

static void
fail(int code, const char *fmt,...)
{
	struct pps_bpf_hello hello;
	va_list		ap;

	memset(&hello, 0, sizeof(hello));
	va_start(ap, fmt);
	vsnprintf(hello.message, sizeof(hello.message), fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": %s\n", hello.message);
	if (reply_fd >= 0)
	{
		hello.magic = PPS_BPF_HELLO_MAGIC;
		hello.layout_version = PPS_BPF_LAYOUT_VERSION;
		hello.stats_size = sizeof(struct pps_bpf_stats);
		hello.exit_code = code;
		(void) send(reply_fd, &hello, sizeof(hello), MSG_NOSIGNAL);
	}
	exit(code);
}

/* Bad arguments: the reason and the usage, on one line. */
static void
usage_fail(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_fail(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (usage: " PROG " --pid <postmaster pid> --fd <socket fd>"
			" [--title-skip N] [--sample-hz N | --no-sample] [--no-syscalls]"
			" [--snapshot-range 0xSTART-0xEND] [--verbose])\n");
	exit(PPS_BPF_EXIT_USAGE);
}

/* A decimal integer in [min, max] and nothing else, or a usage error. */
static long
parse_int(const char *opt, const char *s, long min, long max)
{
	char	   *end;
	long		v;

	if (s == NULL)
		usage_fail("%s needs a value", opt);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage_fail("invalid %s \"%s\": want an integer in [%ld, %ld]",
				   opt, s, min, max);
	return v;
}

/* One hexadecimal address with its 0x prefix; *end is past its last digit. */
static bool
parse_hex(const char *s, unsigned long long *v, const char **end)
{
	char	   *e;

	if (strncmp(s, "0x", 2) != 0 || !isxdigit((unsigned char) s[2]))
		return false;
	errno = 0;
	*v = strtoull(s + 2, &e, 16);
	*end = e;
	return errno == 0;
}

/* "0xSTART-0xEND", START < END, at most MAX_SNAPSHOT_RANGE bytes apart. */
static void
parse_range(const char *opt, const char *s, unsigned long long *start,
			unsigned long long *end)
{
	const char *p;

	if (s == NULL)
		usage_fail("%s needs a value", opt);
	if (!parse_hex(s, start, &p) || *p != '-' ||
		!parse_hex(p + 1, end, &p) || *p != '\0' ||
		*start == 0 || *end <= *start || *end - *start > MAX_SNAPSHOT_RANGE)
		usage_fail("invalid %s \"%s\": want 0xSTART-0xEND with 0 < START < END and at most %d bytes",
				   opt, s, MAX_SNAPSHOT_RANGE);
}

/*
 * The first number on the line starting with key in /proc/<pid>/status,
 * or -1 with errno set (ENOENT: no such process).
 */
static long
status_field(pid_t pid, const char *key)
{
	char		path[64];
	char		line[256];
	size_t		keylen = strlen(key);
	long		v = -1;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
	{
		if (strncmp(line, key, keylen) == 0)
		{
			v = strtol(line + keylen, NULL, 10);
			break;
		}
	}
	fclose(f);
	if (v < 0)
		errno = EINVAL;
	return v;
}

static void
check_reply_fd(int fd)
{
	struct stat st;
	struct sockaddr_storage ss;
	socklen_t	sslen = sizeof(ss);

	if (fstat(fd, &st) != 0)
		fail(PPS_BPF_EXIT_BAD_FD, "--fd %d is not an open file descriptor: %s",
			 fd, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		fail(PPS_BPF_EXIT_BAD_FD, "--fd %d is not a socket", fd);
	if (getsockname(fd, (struct sockaddr *) &ss, &sslen) != 0 ||
		ss.ss_family != AF_UNIX)
		fail(PPS_BPF_EXIT_BAD_FD, "--fd %d is not a Unix domain socket", fd);
	reply_fd = fd;
}

/*
 * Field 22 of /proc/<pid>/stat, the start time in clock ticks since boot,
 * and field 4, the parent pid.  The command name (field 2) may hold spaces
 * and parentheses: parse after its last ')'.
 */
static bool
stat_fields(pid_t pid, unsigned long long *start_ticks, long *ppid)
{
	char		path[64];
	char		buf[1024];
	char	   *p;
	size_t		n;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* ") S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itrealvalue starttime" */
	return p != NULL &&
		sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			   ppid, start_ticks) == 2;
}

/* Boot time, seconds since the epoch (btime in /proc/stat). */
static long long
boot_time(void)
{
	char		line[256];
	long long	btime = -1;
	FILE	   *f = fopen("/proc/stat", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	return btime;
}

/* A line of at most len-1 bytes, without its newline; false at EOF. */
static bool
read_line(FILE *f, char *buf, size_t len)
{
	size_t		n;

	if (fgets(buf, len, f) == NULL)
		return false;
	n = strlen(buf);
	if (n == 0 || buf[n - 1] != '\n')
		return false;			/* too long, or the file ends mid-line */
	buf[n - 1] = '\0';
	return true;
}

static void
check_postmaster(pid_t pid)
{
	char		path[64];
	char		line[PATH_MAX + 2];
	struct stat exe;
	struct stat cwd;
	struct stat dir;
	long		uid;
	long		tgid;
	long		ppid;
	long long	btime;
	long long	started;
	long		hz = sysconf(_SC_CLK_TCK);
	char	   *end;
	FILE	   *f;

	/* exists, and is a process rather than a thread of one */
	tgid = status_field(pid, "Tgid:");
	if (tgid < 0 && errno == ENOENT)
		fail(PPS_BPF_EXIT_NO_SUCH_PID, "--pid %d: no such process", (int) pid);
	if (tgid != pid)
		fail(PPS_BPF_EXIT_NOT_POSTMASTER, "--pid %d is not a process id", (int) pid);

	uid = status_field(pid, "Uid:");	/* the first field is the real uid */
	if (uid < 0)
		fail(PPS_BPF_EXIT_NO_SUCH_PID, "--pid %d: cannot read its status: %s",
			 (int) pid, strerror(errno));
	if ((uid_t) uid != getuid())
		fail(PPS_BPF_EXIT_OTHER_USER,
			 "--pid %d belongs to uid %ld, not to the caller (uid %d): a server can only watch its own postmaster",
			 (int) pid, uid, (int) getuid());

	/* the postgres executable of this installation, whatever its path says */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int) pid);
	if (stat(PPS_POSTGRES_PATH, &pm_exe) != 0)
		fail(PPS_BPF_EXIT_NOT_POSTMASTER, "cannot stat %s: %s",
			 PPS_POSTGRES_PATH, strerror(errno));
	if (stat(path, &exe) != 0 || exe.st_dev != pm_exe.st_dev || exe.st_ino != pm_exe.st_ino)
		fail(PPS_BPF_EXIT_NOT_POSTMASTER,
			 "--pid %d is not a PostgreSQL postmaster of this installation: its executable is not %s",
			 (int) pid, PPS_POSTGRES_PATH);

	/* through the cwd magic link: no path to race with */
	snprintf(path, sizeof(path), "/proc/%d/cwd/postmaster.pid", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		fail(PPS_BPF_EXIT_NOT_POSTMASTER,
			 "--pid %d is not a PostgreSQL postmaster: no postmaster.pid in its working directory (%s)",
			 (int) pid, strerror(errno));
	/* line 1: its pid */
	if (!read_line(f, line, sizeof(line)) || strtol(line, &end, 10) != pid || *end != '\0')
	{
		fclose(f);
		fail(PPS_BPF_EXIT_NOT_POSTMASTER,
			 "--pid %d is not a PostgreSQL postmaster: the postmaster.pid in its working directory names another process",
			 (int) pid);
	}
	/* line 2: its data directory, which must be its working directory */
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int) pid);
	if (!read_line(f, line, sizeof(line)) || line[0] != '/' ||
		stat(line, &dir) != 0 || stat(path, &cwd) != 0 ||
		dir.st_dev != cwd.st_dev || dir.st_ino != cwd.st_ino)
	{
		fclose(f);
		fail(PPS_BPF_EXIT_NOT_POSTMASTER,
			 "--pid %d is not a PostgreSQL postmaster: the data directory in its postmaster.pid is not its working directory",
			 (int) pid);
	}
	/* line 3: when it started, which must be when this process started */
	btime = boot_time();
	if (!read_line(f, line, sizeof(line)) ||
		(started = strtoll(line, &end, 10)) <= 0 || *end != '\0' ||
		hz <= 0 || btime < 0 || !stat_fields(pid, &pm_start_ticks, &ppid) ||
		started < btime + (long long) (pm_start_ticks / hz) - START_SLACK_BEFORE ||
		started > btime + (long long) (pm_start_ticks / hz) + START_SLACK_AFTER)
	{
		fclose(f);
		fail(PPS_BPF_EXIT_NOT_POSTMASTER,
			 "--pid %d is not a PostgreSQL postmaster: the start time in its postmaster.pid is not the process's",
			 (int) pid);
	}
	fclose(f);
}

/*
 * Our parent is a child of the postmaster, runs the same executable, and
 * is the extension's sampler: the token it queued on the socket matches
 * the one-time token file it wrote into the data directory with its pid.
 */
static void
check_caller(pid_t pid)
{
	pid_t		caller = getppid();
	unsigned long long ticks;
	long		caller_parent = -1;
	struct pps_bpf_request req;
	struct pollfd pfd = {.fd = reply_fd,.events = POLLIN};
	struct stat exe;
	struct stat st;
	char		path[PATH_MAX];
	char		want[32 + PPS_BPF_TOKEN_LEN];
	char		got[32 + PPS_BPF_TOKEN_LEN + 2];
	ssize_t		n;
	int			fd;
	unsigned char diff = 0;

	if (!stat_fields(caller, &ticks, &caller_parent) || caller_parent != pid)
		fail(PPS_BPF_EXIT_NOT_CHILD,
			 "the caller (pid %d) is not a child of postmaster %d: only the extension's background worker may run this loader",
			 (int) caller, (int) pid);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int) caller);
	if (stat(path, &exe) != 0 || exe.st_dev != pm_exe.st_dev || exe.st_ino != pm_exe.st_ino)
		fail(PPS_BPF_EXIT_NOT_CHILD,
			 "the caller (pid %d) does not run %s: only the extension's background worker may run this loader",
			 (int) caller, PPS_POSTGRES_PATH);

	/* the request was queued before we started: a short wait is plenty */
	memset(&req, 0, sizeof(req));
	if (poll(&pfd, 1, REQUEST_TIMEOUT_MS) != 1 ||
		(n = recv(reply_fd, &req, sizeof(req), MSG_DONTWAIT)) != (ssize_t) sizeof(req) ||
		req.magic != PPS_BPF_REQUEST_MAGIC || req.layout_version != PPS_BPF_LAYOUT_VERSION ||
		req.token[PPS_BPF_TOKEN_LEN] != '\0' || strlen(req.token) != PPS_BPF_TOKEN_LEN)
		fail(PPS_BPF_EXIT_NOT_SAMPLER,
			 "the caller (pid %d) sent no valid request: only the extension's sampler may run this loader",
			 (int) caller);

	snprintf(path, sizeof(path), "/proc/%d/cwd/" PPS_BPF_TOKEN_FILE, (int) pid);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fail(PPS_BPF_EXIT_NOT_SAMPLER,
			 "no token file %s in the data directory of postmaster %d (%s): only the extension's sampler may run this loader",
			 PPS_BPF_TOKEN_FILE, (int) pid, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() ||
		(st.st_mode & 077) != 0 || st.st_nlink != 1)
	{
		close(fd);
		(void) unlink(path);
		fail(PPS_BPF_EXIT_NOT_SAMPLER,
			 "%s of postmaster %d is not a private file of uid %d (mode 0600, one link): only the extension's sampler may run this loader",
			 PPS_BPF_TOKEN_FILE, (int) pid, (int) getuid());
	}
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	/* one use only, whatever the outcome */
	(void) unlink(path);
	snprintf(want, sizeof(want), "%d %s\n", (int) caller, req.token);
	if (n != (ssize_t) strlen(want))
		diff = 1;
	else
		for (size_t i = 0; i < strlen(want); i++)
			diff |= (unsigned char) (got[i] ^ want[i]);
	if (diff)
		fail(PPS_BPF_EXIT_NOT_SAMPLER,
			 "the token of the caller (pid %d) does not match %s of postmaster %d: only the extension's sampler may run this loader",
			 (int) caller, PPS_BPF_TOKEN_FILE, (int) pid);
}

/*
 * One set of links per postmaster: an exclusive lock on a file in its data
 * directory, whose fd goes to the worker with the links.  Returns the fd.
 */
static int
lock_instance(pid_t pid)
{
	char		path[PATH_MAX];
	struct stat st;
	int			fd;

	snprintf(path, sizeof(path), "/proc/%d/cwd/" PPS_BPF_LOCK_FILE, (int) pid);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		fail(PPS_BPF_EXIT_ALREADY, "cannot open the lock file %s of postmaster %d: %s",
			 PPS_BPF_LOCK_FILE, (int) pid, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid())
		fail(PPS_BPF_EXIT_ALREADY, "the lock file %s of postmaster %d is not a regular file of uid %d",
			 PPS_BPF_LOCK_FILE, (int) pid, (int) getuid());
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		fail(PPS_BPF_EXIT_ALREADY,
			 errno == EWOULDBLOCK ?
			 "postmaster %d is already watched by another loader's programs: one set per postmaster" :
			 "cannot lock the lock file of postmaster %d",
			 (int) pid);
	return fd;
}

/*
 * [start, end) lies inside one executable, file-backed mapping of pid:
 * code of the postmaster, where the sampler looks for user IPs.
 */
static void
check_snapshot_range(pid_t pid, unsigned long long start, unsigned long long end)
{
	char		path[64];
	char		line[PATH_MAX + 128];
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		fail(PPS_BPF_EXIT_BAD_RANGE, "cannot read %s to check --snapshot-range: %s",
			 path, strerror(errno));
	while (fgets(line, sizeof(line), f))
	{
		unsigned long long lo;
		unsigned long long hi;
		unsigned long long inode;
		char		perms[5];

		/* lo-hi perms offset dev inode [path] */
		if (sscanf(line, "%llx-%llx %4s %*x %*s %llu", &lo, &hi, perms, &inode) == 4 &&
			start >= lo && end <= hi && perms[2] == 'x' && inode != 0)
		{
			fclose(f);
			return;
		}
	}
	fclose(f);
	fail(PPS_BPF_EXIT_BAD_RANGE,
		 "--snapshot-range 0x%llx-0x%llx is not inside the code of postmaster %d (no executable file mapping holds it)",
		 start, end, (int) pid);
}

static void
check_environment(void)
{
	char		ns[64];
	ssize_t		n;

	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (n < 0)
		fail(PPS_BPF_EXIT_UNSUPPORTED, "cannot read /proc/self/ns/pid: %s", strerror(errno));
	ns[n] = '\0';
	if (strcmp(ns, HOST_PID_NS) != 0)
		fail(PPS_BPF_EXIT_UNSUPPORTED,
			 "runs in a PID namespace other than the host's (%s, a container?): eBPF sees host pids; not supported",
			 ns);
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		fail(PPS_BPF_EXIT_UNSUPPORTED,
			 "the kernel has no BTF (/sys/kernel/btf/vmlinux: %s): a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed",
			 strerror(errno));
}

static bool
have_cap(cap_t caps, cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;

	return cap_get_flag(caps, cap, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
}

static void
check_caps(void)
{
	cap_t		caps = cap_get_proc();
	char		exe[PATH_MAX];
	ssize_t		n;

	if (caps != NULL && have_cap(caps, CAP_BPF) && have_cap(caps, CAP_PERFMON))
	{
		cap_free(caps);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	fail(PPS_BPF_EXIT_NO_CAPS,
		 "missing capabilities cap_bpf,cap_perfmon on %s: run `make install-caps` as root",
		 exe);
}

/* All capability sets empty, by libcap and by the kernel's own account. */
static void
drop_caps(void)
{
	cap_t		none = cap_init();
	cap_t		now;
	char		line[128];
	bool		clear = true;
	FILE	   *f;

	if (none == NULL || cap_set_proc(none) != 0)
		fail(PPS_BPF_EXIT_DROP_CAPS, "cannot drop capabilities: %s", strerror(errno));
	now = cap_get_proc();
	if (now == NULL || cap_compare(now, none) != 0)
		fail(PPS_BPF_EXIT_DROP_CAPS, "capabilities still set after dropping them");
	cap_free(now);
	cap_free(none);

	f = fopen("/proc/self/status", "r");
	if (f == NULL)
		fail(PPS_BPF_EXIT_DROP_CAPS, "cannot read /proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
	{
		if (strncmp(line, "Cap", 3) != 0 || strncmp(line, "CapBnd:", 7) == 0)
			continue;			/* bounding set: only CAP_SETPCAP may shrink it */
		if (strtoull(strchr(line, ':') + 1, NULL, 16) != 0)
			clear = false;
		if (verbose)
			fprintf(stderr, PROG ": after drop: %s", line);
	}
	fclose(f);
	if (!clear)
		fail(PPS_BPF_EXIT_DROP_CAPS, "/proc/self/status still shows capabilities after dropping them");
}

/* libbpf's own chatter only with --verbose: each step reports one line */
static int
libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void) level;
	return verbose ? vfprintf(stderr, fmt, ap) : 0;
}

static struct bpf_link *
attach_one(struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (link == NULL)
		fail(PPS_BPF_EXIT_ATTACH, "cannot attach %s: %s",
			 bpf_program__section_name(prog), strerror(errno));
	return link;
}

/*
 * cpu-clock sampling on every online CPU.  Appends the links to fds and
 * returns how many CPUs are sampled, or 0 with why set when it could not:
 * sampling is optional, so this never fails the load.
 */
static int
attach_sampling(struct pps *skel, int hz, int *fds, int *nfds,
				char *why, size_t whylen)
{
	struct perf_event_attr attr;
	int			ncpus = libbpf_num_possible_cpus();
	int			first = *nfds;
	int			sampled = 0;

	if (ncpus <= 0)
	{
		snprintf(why, whylen, "cannot count CPUs");
		return 0;
	}
	/* one fd is left for the lock */
	if (*nfds + ncpus + 1 > PPS_BPF_MAX_FDS)
	{
		snprintf(why, whylen, "more than %d CPUs", PPS_BPF_MAX_FDS - *nfds - 1);
		return 0;
	}
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.freq = 1;
	attr.sample_freq = hz;

	for (int cpu = 0; cpu < ncpus; cpu++)
	{
		struct bpf_link *link;
		int			pfd;

		pfd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0 && errno == ENODEV)
			continue;			/* possible but offline */
		if (pfd < 0)
		{
			snprintf(why, whylen, "perf_event_open on CPU %d: %s", cpu, strerror(errno));
			goto undo;
		}
		/* the BPF link holds the perf event, so the link fd alone keeps it */
		link = bpf_program__attach_perf_event(skel->progs.pps_cpu_sample, pfd);
		if (link == NULL)
		{
			snprintf(why, whylen, "attaching to CPU %d: %s", cpu, strerror(errno));
			close(pfd);
			goto undo;
		}
		fds[(*nfds)++] = bpf_link__fd(link);
		sampled++;
	}
	return sampled;

undo:
	/* closing our only reference to a link detaches it */
	for (int i = first; i < *nfds; i++)
		close(fds[i]);
	*nfds = first;
	return 0;
}

static void
send_hello(struct pps_bpf_hello *hello, const int *fds, int nfds)
{
	union
	{
		char		buf[CMSG_SPACE(sizeof(int) * PPS_BPF_MAX_FDS)];
		struct cmsghdr align;
	}			control;
	struct iovec iov = {.iov_base = hello,.iov_len = sizeof(*hello)};
	struct msghdr msg;
	struct cmsghdr *cmsg;

	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);

	if (sendmsg(reply_fd, &msg, MSG_NOSIGNAL) != (ssize_t) sizeof(*hello))
	{
		/* the worker is gone: nobody to send a failure to either */
		reply_fd = -1;
		fail(PPS_BPF_EXIT_SEND, "cannot send the BPF handles to the caller: %s",
			 strerror(errno));
	}
}

int
main(int argc, char **argv)
{
	long		pid = -1;
	long		fd = -1;
	long		title_skip = 10;	/* strlen("postgres: ") */
	long		sample_hz = DEFAULT_SAMPLE_HZ;
	bool		no_sample = false;
	bool		no_syscalls = false;
	bool		hz_given = false;
	bool		range_given = false;
	unsigned long long snap_start = 0;
	unsigned long long snap_end = 0;
	struct pps *skel;
	struct pps_bpf_hello hello;
	int			fds[PPS_BPF_MAX_FDS];
	int			nfds = 0;
	int			ncpus = 0;
	int			nprogs;
	__u32		prog_mask = 0;
	char		why[160] = "";
	int			lock_fd;
	unsigned long long tick_ns;
	int			err;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		/* options may not repeat: a second value is a caller's mistake */
		for (int j = 1; j < i; j++)
			if (strncmp(a, "--", 2) == 0 && strcmp(a, argv[j]) == 0)
				usage_fail("%s given twice", a);
		if (strcmp(a, "--pid") == 0)
			pid = parse_int(a, argv[++i], 1, INT_MAX);
		else if (strcmp(a, "--fd") == 0)
			fd = parse_int(a, argv[++i], 0, INT_MAX);
		else if (strcmp(a, "--title-skip") == 0)
			title_skip = parse_int(a, argv[++i], 0, MAX_TITLE_SKIP);
		else if (strcmp(a, "--sample-hz") == 0)
		{
			sample_hz = parse_int(a, argv[++i], 1, MAX_SAMPLE_HZ);
			hz_given = true;
		}
		else if (strcmp(a, "--no-sample") == 0)
			no_sample = true;
		else if (strcmp(a, "--no-syscalls") == 0)
			no_syscalls = true;
		else if (strcmp(a, "--snapshot-range") == 0)
		{
			parse_range(a, argv[++i], &snap_start, &snap_end);
			range_given = true;
		}
		else if (strcmp(a, "--verbose") == 0)
			verbose = true;
		else
			usage_fail("unexpected argument \"%s\"", a);
	}
	if (pid < 0 || fd < 0)
		usage_fail("--pid and --fd are required");
	if (no_sample && hz_given)
		usage_fail("--sample-hz and --no-sample exclude each other");

	check_reply_fd((int) fd);
	check_postmaster((pid_t) pid);
	if (range_given)
		check_snapshot_range((pid_t) pid, snap_start, snap_end);
	check_caller((pid_t) pid);
	check_environment();
	check_caps();
	lock_fd = lock_instance((pid_t) pid);

	libbpf_set_print(libbpf_print);
	skel = pps__open();
	if (skel == NULL)
		fail(PPS_BPF_EXIT_LOAD, "cannot open the BPF object: %s", strerror(errno));
	skel->rodata->postmaster_tgid = (__u32) pid;
	/* the start_boottime values (ns) that /proc shows as pm_start_ticks */
	tick_ns = 1000000000ULL / (unsigned long long) sysconf(_SC_CLK_TCK);
	skel->rodata->postmaster_start_lo = pm_start_ticks * tick_ns;
	skel->rodata->postmaster_start_hi = (pm_start_ticks + 1) * tick_ns;
	skel->rodata->title_skip = (__u32) title_skip;
	skel->rodata->snapshot_start = snap_start;
	skel->rodata->snapshot_end = snap_end;
	skel->bss->stats.magic = PPS_BPF_STATS_MAGIC;
	skel->bss->stats.layout_version = PPS_BPF_LAYOUT_VERSION;
	if (no_sample)
		bpf_program__set_autoload(skel->progs.pps_cpu_sample, false);
	if (no_syscalls)
	{
		/*
		 * Not even loaded: nothing runs on the machine's system calls; the
		 * free program counts the reaps instead of sys_exit.
		 */
		bpf_program__set_autoload(skel->progs.pps_sys_enter, false);
		bpf_program__set_autoload(skel->progs.pps_sys_exit, false);
	}
	else
		bpf_program__set_autoload(skel->progs.pps_free, false);
	err = pps__load(skel);
	if (err != 0)
		fail(PPS_BPF_EXIT_LOAD,
			 "cannot load the BPF programs: %s (kernel lockdown, or a kernel without tp_btf support?)",
			 strerror(-err));

	/* the .bss map first; the worker mmaps it */
	fds[nfds++] = bpf_map__fd(skel->maps.bss);
	/*
	 * then the programs, read-only use: their run counts and run times, in
	 * enum pps_bpf_prog order (without the syscall pair when it is off)
	 */
	if (!no_syscalls)
	{
		fds[nfds++] = bpf_program__fd(skel->progs.pps_sys_enter);
		fds[nfds++] = bpf_program__fd(skel->progs.pps_sys_exit);
		prog_mask |= 1u << PPS_BPF_PROG_SYS_ENTER | 1u << PPS_BPF_PROG_SYS_EXIT;
	}
	fds[nfds++] = bpf_program__fd(skel->progs.pps_fork);
	fds[nfds++] = bpf_program__fd(skel->progs.pps_exit);
	prog_mask |= 1u << PPS_BPF_PROG_FORK | 1u << PPS_BPF_PROG_EXIT;
	if (!no_sample)
	{
		fds[nfds++] = bpf_program__fd(skel->progs.pps_cpu_sample);
		prog_mask |= 1u << PPS_BPF_PROG_CPU_SAMPLE;
	}
	if (no_syscalls)
	{
		fds[nfds++] = bpf_program__fd(skel->progs.pps_free);
		prog_mask |= 1u << PPS_BPF_PROG_FREE;
	}
	nprogs = nfds - 1;
	/*
	 * The reaps' program (sys_exit, else free) before fork and exit, so that
	 * no child whose exit counts misses its reap; sys_exit before sys_enter,
	 * so that a clone whose entry was seen has its exit seen too.
	 */
	if (!no_syscalls)
	{
		fds[nfds++] = bpf_link__fd(attach_one(skel->progs.pps_sys_exit));
		fds[nfds++] = bpf_link__fd(attach_one(skel->progs.pps_sys_enter));
	}
	else
		fds[nfds++] = bpf_link__fd(attach_one(skel->progs.pps_free));
	fds[nfds++] = bpf_link__fd(attach_one(skel->progs.pps_fork));
	fds[nfds++] = bpf_link__fd(attach_one(skel->progs.pps_exit));

	if (!no_sample)
		ncpus = attach_sampling(skel, (int) sample_hz, fds, &nfds, why, sizeof(why));

	drop_caps();
	/* last: the worker keeps it as long as the links */
	fds[nfds++] = lock_fd;

	memset(&hello, 0, sizeof(hello));
	hello.magic = PPS_BPF_HELLO_MAGIC;
	hello.layout_version = PPS_BPF_LAYOUT_VERSION;
	hello.flags = PPS_BPF_HELLO_OK;
	if (ncpus > 0)
		hello.flags |= PPS_BPF_HELLO_SAMPLING |
			(range_given ? PPS_BPF_HELLO_SNAPSHOT : 0);
	if (!no_syscalls)
		hello.flags |= PPS_BPF_HELLO_SYSCALLS;
	hello.nfds = nfds;
	hello.nprogs = (__u32) nprogs;
	hello.prog_mask = prog_mask;
	hello.stats_size = sizeof(struct pps_bpf_stats);
	hello.sample_hz = ncpus > 0 ? sample_hz : 0;
	hello.sample_cpus = ncpus;
	hello.exit_code = PPS_BPF_EXIT_OK;
	if (ncpus > 0 && range_given)
		snprintf(hello.message, sizeof(hello.message),
				 "loaded; sampling %ld Hz on %d CPUs; GetSnapshotData at 0x%llx-0x%llx",
				 sample_hz, ncpus, snap_start, snap_end);
	else if (ncpus > 0)
		snprintf(hello.message, sizeof(hello.message),
				 "loaded; sampling %ld Hz on %d CPUs", sample_hz, ncpus);
	else if (no_sample)
		snprintf(hello.message, sizeof(hello.message), "loaded; sampling off");
	else
		snprintf(hello.message, sizeof(hello.message),
				 "loaded; sampling failed: %s", why);
	send_hello(&hello, fds, nfds);
	if (verbose)
		fprintf(stderr, PROG ": %s; sent %d fds\n", hello.message, nfds);

	/*
	 * Exit without pps__destroy(): the worker holds its own references to
	 * the map and the links, and destroying would only close ours.
	 */
	return PPS_BPF_EXIT_OK;
}
