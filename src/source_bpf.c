/*-------------------------------------------------------------------------
 *
 * source_bpf.c
 *	  Exact fork, exit and reap counts and on-CPU samples from eBPF,
 *	  through the loader.
 *
 * Loading eBPF programs needs cap_bpf,cap_perfmon, which the server must
 * never have.  So the sampler worker spawns pg_postmaster_stats_bpf (file
 * capabilities, see loader/) with one end of a socketpair, on which it has
 * queued a one-time token that it also wrote into the data directory; the
 * loader checks that its caller is this postmaster's sampler (the token),
 * loads and attaches the programs, drops its capabilities and sends back a
 * struct pps_bpf_hello with the .bss map fd, the link fds and the fd of
 * its lock on this postmaster (SCM_RIGHTS), then exits.
 *
 * This worker maps the .bss map read-only and from then on reads the
 * counters with plain loads: no syscall, no lock (only the programs write,
 * with atomic adds).  The link fds are the only thing keeping the programs
 * attached: closing them, or the worker exiting, detaches them, so a
 * restarted worker starts again from zero with a fresh loader run.
 *
 * Nothing here raises an ERROR: every failure returns false with a
 * message for the sources view, and the worker goes on without eBPF.
 * Between fork and exec the child runs no PostgreSQL code: posix_spawn
 * resets signal handlers and closes our descriptors before exec.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "storage/fd.h"

#include "source_bpf.h"

#define PPS_BPF_REPLY_TIMEOUT_MS	10000
#define PPS_BPF_EXIT_TIMEOUT_MS		2000
#define PPS_BPF_CHILD_FD			3	/* the loader's --fd */

StaticAssertDecl(sizeof(struct pps_bpf_stats) % sizeof(uint64) == 0,
				 "pps_bpf_stats must be whole 64-bit words");

static const volatile uint64 *pps_bpf_map = NULL;	/* the .bss map */
static size_t pps_bpf_map_len = 0;
static int	pps_bpf_links[PPS_BPF_MAX_FDS];
static int	pps_bpf_progs[PPS_BPF_NPROGS];	/* only for bpf_prog_info */
static int	pps_bpf_nprogs = 0;
static int	pps_bpf_nlinks = 0;
static char pps_bpf_message[PPS_BPF_MESSAGE_LEN + 64] = "not started";
static uint32 pps_bpf_flags = 0;	/* the hello's PPS_BPF_HELLO_* */
static uint32 pps_bpf_progs_loaded = 0;	/* the hello's prog_mask */

static int64
pps_bpf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Spawn the loader with the socket as fd 3 and stderr into a pipe. */
static bool
pps_bpf_spawn(const char *loader_path, pid_t postmaster_pid, int title_skip,
			  const PpsBpfRange *snapshot, bool syscalls, int sock, int errpipe,
			  pid_t *child, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t	all;
	sigset_t	none;
	char		pidbuf[16];
	char		fdbuf[16];
	char		skipbuf[16];
	char		rangebuf[48];
	char	   *argv[] = {(char *) loader_path, "--pid", pidbuf, "--fd", fdbuf,
	"--title-skip", skipbuf, NULL, NULL, NULL, NULL};
	int			argc = 7;
	char	   *envp[] = {NULL};
	short		flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
	int			rc;

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int) postmaster_pid);
	snprintf(fdbuf, sizeof(fdbuf), "%d", PPS_BPF_CHILD_FD);
	snprintf(skipbuf, sizeof(skipbuf), "%d", title_skip);
	if (snapshot != NULL)
	{
		snprintf(rangebuf, sizeof(rangebuf), "0x%llx-0x%llx",
				 (unsigned long long) snapshot->start,
				 (unsigned long long) snapshot->end);
		argv[argc++] = "--snapshot-range";
		argv[argc++] = rangebuf;
	}
	if (!syscalls)
		argv[argc++] = "--no-syscalls";
	Assert(argc < lengthof(argv));

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, errpipe, 2);
	posix_spawn_file_actions_adddup2(&fa, sock, PPS_BPF_CHILD_FD);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* the server's files and sockets are none of the loader's business */
	posix_spawn_file_actions_addclosefrom_np(&fa, PPS_BPF_CHILD_FD + 1);
#endif

	/* default handlers, nothing blocked, and its own session, so signals
	 * the postmaster sends to our process group do not reach it */
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
#ifdef POSIX_SPAWN_SETSID
	flags |= POSIX_SPAWN_SETSID;
#endif
	posix_spawnattr_setflags(&attr, flags);

	rc = posix_spawn(child, loader_path, &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
	{
		snprintf(err, errlen, "cannot run the eBPF loader %s: %s",
				 loader_path, strerror(rc));
		return false;
	}
	return true;
}

/* Wait up to the timeout for the hello; returns the fds received. */
static int
pps_bpf_receive(int sock, struct pps_bpf_hello *hello, int *fds)
{
	union
	{
		char		buf[CMSG_SPACE(sizeof(int) * PPS_BPF_MAX_FDS)];
		struct cmsghdr align;
	}			control;
	struct iovec iov = {.iov_base = hello,.iov_len = sizeof(*hello)};
	struct msghdr msg;
	struct cmsghdr *cmsg;
	int64		deadline = pps_bpf_now_ms() + PPS_BPF_REPLY_TIMEOUT_MS;
	int			nfds = 0;
	ssize_t		n;

	memset(hello, 0, sizeof(*hello));
	for (;;)
	{
		struct pollfd pfd = {.fd = sock,.events = POLLIN};
		int64		left = deadline - pps_bpf_now_ms();
		int			rc;

		if (left <= 0)
			return -1;
		rc = poll(&pfd, 1, (int) left);
		if (rc > 0)
			break;
		if (rc < 0 && errno != EINTR)
			return -1;
	}

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);

	for (cmsg = CMSG_FIRSTHDR(&msg); n > 0 && cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
	{
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
		{
			int			k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			memcpy(fds + nfds, CMSG_DATA(cmsg), sizeof(int) * k);
			nfds += k;
		}
	}
	if (n != (ssize_t) sizeof(*hello) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		hello->magic = 0;		/* no valid hello; the caller reports stderr */
	return nfds;
}

/* Reap the loader, killing it if it hangs; describe how it ended. */
static void
pps_bpf_reap(pid_t child, char *how, size_t howlen)
{
	int64		deadline = pps_bpf_now_ms() + PPS_BPF_EXIT_TIMEOUT_MS;
	int			status;
	pid_t		rc;

	while ((rc = waitpid(child, &status, WNOHANG)) == 0 &&
		   pps_bpf_now_ms() < deadline)
		pg_usleep(10000L);
	if (rc == 0)
	{
		kill(child, SIGKILL);
		rc = waitpid(child, &status, 0);
		snprintf(how, howlen, "was killed after %d s",
				 (PPS_BPF_REPLY_TIMEOUT_MS + PPS_BPF_EXIT_TIMEOUT_MS) / 1000);
		return;
	}
	if (rc < 0)
		snprintf(how, howlen, "ended (exit status unknown: %s)", strerror(errno));
	else if (WIFEXITED(status))
		snprintf(how, howlen, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, howlen, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, howlen, "ended with wait status %d", status);
}

/* The last non-empty line the loader wrote on stderr, or "". */
static void
pps_bpf_read_stderr(int fd, char *line, size_t linelen)
{
	char		buf[1024];
	size_t		len = 0;
	ssize_t		n;
	char	   *start;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (len < sizeof(buf) - 1 &&
		   (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	start = strrchr(buf, '\n');
	strlcpy(line, start ? start + 1 : buf, linelen);
}

/*
 * Queue the request on the socket and write the token file the loader
 * compares it with: "<our pid> <token>\n", mode 0600, in the data
 * directory (our working directory).  A stale file is replaced.
 */
static bool
pps_bpf_send_token(int sock, char *err, size_t errlen)
{
	struct pps_bpf_request req;
	uint8		raw[PPS_BPF_TOKEN_LEN / 2];
	char		line[32 + PPS_BPF_TOKEN_LEN];
	int			len;
	int			fd;

	if (!pg_strong_random(raw, sizeof(raw)))
	{
		snprintf(err, errlen, "could not generate a random token for the eBPF loader");
		return false;
	}
	memset(&req, 0, sizeof(req));
	req.magic = PPS_BPF_REQUEST_MAGIC;
	req.layout_version = PPS_BPF_LAYOUT_VERSION;
	for (int i = 0; i < (int) sizeof(raw); i++)
		snprintf(req.token + 2 * i, 3, "%02x", raw[i]);

	(void) unlink(PPS_BPF_TOKEN_FILE);
	fd = open(PPS_BPF_TOKEN_FILE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		snprintf(err, errlen, "cannot create %s for the eBPF loader: %s",
				 PPS_BPF_TOKEN_FILE, strerror(errno));
		return false;
	}
	len = snprintf(line, sizeof(line), "%d %s\n", (int) getpid(), req.token);
	if (write(fd, line, len) != len || close(fd) != 0)
	{
		snprintf(err, errlen, "cannot write %s for the eBPF loader: %s",
				 PPS_BPF_TOKEN_FILE, strerror(errno));
		(void) unlink(PPS_BPF_TOKEN_FILE);
		return false;
	}
	if (send(sock, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t) sizeof(req))
	{
		snprintf(err, errlen, "cannot queue the request for the eBPF loader: %s",
				 strerror(errno));
		(void) unlink(PPS_BPF_TOKEN_FILE);
		return false;
	}
	return true;
}

static void
pps_bpf_close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

bool
pps_bpf_start(pid_t postmaster_pid, const char *loader_path, int title_skip,
			  const PpsBpfRange *snapshot, bool syscalls, char *err, size_t errlen)
{
	struct pps_bpf_hello hello;
	int			sv[2];
	int			errpipe[2];
	int			fds[PPS_BPF_MAX_FDS];
	int			nfds;
	pid_t		child;
	char		how[96];
	char		errline[PPS_BPF_MESSAGE_LEN];
	void	   *map;
	size_t		len;

	pps_bpf_stop();
	if (access(loader_path, X_OK) != 0)
	{
		snprintf(err, errlen, "eBPF loader %s is not installed or not executable: %s",
				 loader_path, strerror(errno));
		goto failed;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
	{
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto failed;
	}
	if (pipe2(errpipe, O_CLOEXEC) != 0)
	{
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto failed;
	}
	if (!pps_bpf_send_token(sv[0], err, errlen) ||
		!pps_bpf_spawn(loader_path, postmaster_pid, title_skip, snapshot, syscalls,
					   sv[1], errpipe[1], &child, err, errlen))
	{
		(void) unlink(PPS_BPF_TOKEN_FILE);
		close(sv[0]);
		close(sv[1]);
		close(errpipe[0]);
		close(errpipe[1]);
		goto failed;
	}
	close(sv[1]);
	close(errpipe[1]);

	nfds = pps_bpf_receive(sv[0], &hello, fds);
	close(sv[0]);
	pps_bpf_reap(child, how, sizeof(how));
	/* the loader removes it once read; not if it failed before */
	(void) unlink(PPS_BPF_TOKEN_FILE);
	pps_bpf_read_stderr(errpipe[0], errline, sizeof(errline));
	close(errpipe[0]);

	if (hello.magic != PPS_BPF_HELLO_MAGIC)
	{
		pps_bpf_close_fds(fds, Max(nfds, 0));
		if (errline[0] != '\0')
			snprintf(err, errlen, "%s", errline);
		else
			snprintf(err, errlen, "eBPF loader %s sent no reply and %s",
					 loader_path, how);
		goto failed;
	}
	if (!(hello.flags & PPS_BPF_HELLO_OK))
	{
		pps_bpf_close_fds(fds, nfds);
		hello.message[PPS_BPF_MESSAGE_LEN - 1] = '\0';
		snprintf(err, errlen, "eBPF loader: %s", hello.message);
		goto failed;
	}
	if (hello.layout_version != PPS_BPF_LAYOUT_VERSION ||
		hello.stats_size != sizeof(struct pps_bpf_stats) ||
		hello.nfds != (uint32) nfds || nfds < 1 ||
		hello.nprogs > PPS_BPF_NPROGS || hello.nprogs >= (uint32) nfds ||
		(hello.prog_mask >> PPS_BPF_NPROGS) != 0 ||
		__builtin_popcount(hello.prog_mask) != (int) hello.nprogs)
	{
		pps_bpf_close_fds(fds, nfds);
		snprintf(err, errlen,
				 "eBPF loader %s does not match this extension (layout %u, %u bytes, %d fds; want layout %d, %zu bytes): reinstall both",
				 loader_path, hello.layout_version, hello.stats_size, nfds,
				 PPS_BPF_LAYOUT_VERSION, sizeof(struct pps_bpf_stats));
		goto failed;
	}

	len = TYPEALIGN(sysconf(_SC_PAGESIZE), sizeof(struct pps_bpf_stats));
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fds[0], 0);
	/* the mapping keeps the map alive; its fd is no longer needed */
	close(fds[0]);
	if (map == MAP_FAILED)
	{
		pps_bpf_close_fds(fds + 1, nfds - 1);
		snprintf(err, errlen, "cannot map the eBPF counters: %s", strerror(errno));
		goto failed;
	}
	if (((const struct pps_bpf_stats *) map)->magic != PPS_BPF_STATS_MAGIC)
	{
		munmap(map, len);
		pps_bpf_close_fds(fds + 1, nfds - 1);
		snprintf(err, errlen, "the eBPF counters map has no valid header");
		goto failed;
	}

	pps_bpf_map = (const volatile uint64 *) map;
	pps_bpf_map_len = len;
	for (int i = 1; i < nfds; i++)
	{
		/* tell fd.c, so it keeps its own descriptors within the limit */
		ReserveExternalFD();
		if (i <= (int) hello.nprogs)
			pps_bpf_progs[pps_bpf_nprogs++] = fds[i];
		else
			pps_bpf_links[pps_bpf_nlinks++] = fds[i];
	}
	hello.message[PPS_BPF_MESSAGE_LEN - 1] = '\0';
	strlcpy(pps_bpf_message, hello.message, sizeof(pps_bpf_message));
	pps_bpf_flags = hello.flags;
	pps_bpf_progs_loaded = hello.prog_mask;
	return true;

failed:
	snprintf(pps_bpf_message, sizeof(pps_bpf_message), "failed: %s", err);
	return false;
}

bool
pps_bpf_active(void)
{
	return pps_bpf_map != NULL;
}

/* Are the cpu-clock samples counted, and those inside GetSnapshotData? */
bool
pps_bpf_sampling(void)
{
	return pps_bpf_map != NULL && (pps_bpf_flags & PPS_BPF_HELLO_SAMPLING);
}

/* Are sys_enter/sys_exit attached (fork times, reap latencies)? */
bool
pps_bpf_syscalls(void)
{
	return pps_bpf_map != NULL && (pps_bpf_flags & PPS_BPF_HELLO_SYSCALLS);
}

bool
pps_bpf_counts_snapshot(void)
{
	return pps_bpf_map != NULL && (pps_bpf_flags & PPS_BPF_HELLO_SNAPSHOT);
}

/*
 * Copy the counters word by word: each 64-bit load is atomic, so no
 * counter is torn, although the copy is not a snapshot across counters.
 */
bool
pps_bpf_read(struct pps_bpf_stats *out)
{
	uint64	   *dst = (uint64 *) out;

	if (pps_bpf_map == NULL)
		return false;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64); i++)
		dst[i] = pps_bpf_map[i];
	return true;
}

void
pps_bpf_stop(void)
{
	if (pps_bpf_map != NULL)
	{
		munmap((void *) pps_bpf_map, pps_bpf_map_len);
		pps_bpf_map = NULL;
		pps_bpf_flags = 0;
		pps_bpf_progs_loaded = 0;
		strlcpy(pps_bpf_message, "stopped", sizeof(pps_bpf_message));
	}
	/* closing the last reference to each link detaches its program */
	for (int i = 0; i < pps_bpf_nlinks; i++)
	{
		close(pps_bpf_links[i]);
		ReleaseExternalFD();
	}
	pps_bpf_nlinks = 0;
	for (int i = 0; i < pps_bpf_nprogs; i++)
	{
		close(pps_bpf_progs[i]);
		ReleaseExternalFD();
	}
	pps_bpf_nprogs = 0;
}

/*
 * The kernel's run count and run time of program prog (enum pps_bpf_prog),
 * cumulative since it was loaded, false if it is not loaded (the syscall
 * pair when pg_postmaster_stats.ebpf_syscalls is off, the free program when
 * it is on, the sampling program without sampling); both stay 0 while
 * kernel.bpf_stats_enabled is 0.  Holding the fd is all the permission
 * BPF_OBJ_GET_INFO_BY_FD needs on kernels since 6.5; older kernels with
 * unprivileged eBPF disabled refuse every bpf() call, and there the same
 * figures come from /proc/self/fdinfo, which needs nothing at all.
 */
bool
pps_bpf_prog_stats(int prog, uint64 *run_cnt, uint64 *run_time_ns)
{
	struct bpf_prog_info info;
	union bpf_attr attr;
	char		path[64];
	char		line[128];
	FILE	   *f;
	int			found = 0;

	int			i;

	/* the loader passes the programs it loaded, in enum order */
	if (prog < 0 || prog >= PPS_BPF_NPROGS || !(pps_bpf_progs_loaded & (1u << prog)))
		return false;
	i = __builtin_popcount(pps_bpf_progs_loaded & ((1u << prog) - 1));
	if (i >= pps_bpf_nprogs)
		return false;
	memset(&info, 0, sizeof(info));
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = pps_bpf_progs[i];
	attr.info.info_len = sizeof(info);
	attr.info.info = (uint64) (uintptr_t) &info;
	if (syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr)) == 0)
	{
		*run_cnt = info.run_cnt;
		*run_time_ns = info.run_time_ns;
		return true;
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pps_bpf_progs[i]);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		unsigned long long v;

		if (sscanf(line, "run_time_ns: %llu", &v) == 1)
		{
			*run_time_ns = v;
			found++;
		}
		else if (sscanf(line, "run_cnt: %llu", &v) == 1)
		{
			*run_cnt = v;
			found++;
		}
	}
	fclose(f);
	return found == 2;
}

int
pps_bpf_prog_count(void)
{
	return pps_bpf_nprogs;
}

/* Which programs are loaded: bit 1 << enum pps_bpf_prog */
uint32
pps_bpf_prog_mask(void)
{
	return pps_bpf_map != NULL ? pps_bpf_progs_loaded : 0;
}

const char *
pps_bpf_status(void)
{
	return pps_bpf_message;
}
