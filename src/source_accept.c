/*-------------------------------------------------------------------------
 *
 * source_accept.c
 *	  Connections queued in the kernel, waiting for the postmaster's accept().
 *
 * When the postmaster's single thread is busy forking and reaping, new
 * connections wait in the listen queue of its sockets, invisible to
 * PostgreSQL itself.  The kernel reports that queue through sock_diag
 * netlink: for a listening TCP socket idiag_rqueue is the number of
 * established connections not yet accepted and idiag_wqueue the backlog
 * limit; for a listening Unix socket UNIX_DIAG_RQLEN gives the same pair.
 * A TCP listener's sk_drops (SK_MEMINFO_DROPS) counts the connections it
 * refused because its queue was full (the kernel's ListenDrops, but for
 * this postmaster's sockets only).
 *
 * The sampler is a child of the postmaster but has closed the listen
 * sockets, so they are identified by inode from /proc/<postmaster>/fd.
 * One full dump of the listening sockets learns each one's address; after
 * that every tick asks for each listener by address (TCP) or inode (Unix),
 * which costs the kernel a hash lookup instead of a walk over every socket
 * on the machine.  A failed lookup (sockets changed) triggers a new scan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <math.h>
#include <time.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "source_accept.h"

typedef struct PpsDiagRequest
{
	struct nlmsghdr nlh;
	union
	{
		struct inet_diag_req_v2 inet;
		struct unix_diag_req ux;
	}			req;
} PpsDiagRequest;

static int	pps_nl_fd = -1;
static uint32 pps_nl_seq = 0;

/* listeners learned by the last full dump; nknown < 0: dump needed */
static PpsListener pps_known[PPS_MAX_LISTENERS];
static int	pps_nknown = -1;

/* inodes of every socket the postmaster holds */
static uint64 pps_socket_inodes[PPS_MAX_LISTENERS * 4];
static int	pps_nsocket_inodes = 0;

static bool
pps_accept_scan_inodes(pid_t pid, char *err, size_t errlen)
{
	char		path[64];
	DIR		   *dir;
	struct dirent *de;
	int			n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
	dir = opendir(path);
	if (dir == NULL)
	{
		snprintf(err, errlen, "could not open %s: %m", path);
		return false;
	}
	while ((de = readdir(dir)) != NULL && n < (int) lengthof(pps_socket_inodes))
	{
		char		link[128];
		char		target[128];
		ssize_t		len;
		unsigned long long ino;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%llu]", &ino) == 1)
			pps_socket_inodes[n++] = (uint64) ino;
	}
	closedir(dir);
	pps_nsocket_inodes = n;
	return true;
}

static bool
pps_accept_is_postmaster_socket(uint64 inode)
{
	for (int i = 0; i < pps_nsocket_inodes; i++)
		if (pps_socket_inodes[i] == inode)
			return true;
	return false;
}

/* The drops counter of an inet_diag reply, from INET_DIAG_SKMEMINFO. */
static int64
pps_accept_inet_drops(struct nlmsghdr *h, struct inet_diag_msg *m)
{
	int			alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	struct rtattr *a;

	for (a = (struct rtattr *) (m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
		if (a->rta_type == INET_DIAG_SKMEMINFO &&
			RTA_PAYLOAD(a) >= sizeof(uint32) * (SK_MEMINFO_DROPS + 1))
			return ((uint32 *) RTA_DATA(a))[SK_MEMINFO_DROPS];
	return 0;
}

/* Turn one reply message into a listener; false if it is not one of ours. */
static bool
pps_accept_parse_one(struct nlmsghdr *h, int family, PpsListener *l)
{
	memset(l, 0, sizeof(*l));
	l->family = family;
	if (family == AF_UNIX)
	{
		struct unix_diag_msg *m = (struct unix_diag_msg *) NLMSG_DATA(h);
		int			alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		struct rtattr *a;
		bool		have_rqlen = false;

		l->inode = m->udiag_ino;
		for (a = (struct rtattr *) (m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
		{
			if (a->rta_type == UNIX_DIAG_RQLEN)
			{
				struct unix_diag_rqlen *q = RTA_DATA(a);

				l->queued = (int32) q->udiag_rqueue;
				l->backlog = (int32) q->udiag_wqueue;
				have_rqlen = true;
			}
		}
		return have_rqlen && pps_accept_is_postmaster_socket(l->inode);
	}
	else
	{
		struct inet_diag_msg *m = (struct inet_diag_msg *) NLMSG_DATA(h);

		l->inode = m->idiag_inode;
		memcpy(l->addr, m->id.idiag_src, sizeof(l->addr));
		l->port = m->id.idiag_sport;
		l->ifindex = m->id.idiag_if;
		l->queued = (int32) m->idiag_rqueue;
		l->backlog = (int32) m->idiag_wqueue;
		l->drops = pps_accept_inet_drops(h, m);
		return pps_accept_is_postmaster_socket(l->inode);
	}
}

/*
 * Send one sock_diag request and collect the listeners of ours in the
 * reply into out[] (up to max).  Returns the number found, or -1.
 */
static int
pps_accept_request(PpsDiagRequest *msg, int family, PpsListener *out, int max,
				   char *err, size_t errlen)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char		buf[16384];
	int			found = 0;
	bool		dump = (msg->nlh.nlmsg_flags & NLM_F_DUMP) != 0;

	msg->nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg->nlh.nlmsg_seq = ++pps_nl_seq;
	if (sendto(pps_nl_fd, msg, msg->nlh.nlmsg_len, 0,
			   (struct sockaddr *) &sa, sizeof(sa)) < 0)
	{
		snprintf(err, errlen, "could not send a sock_diag request: %m");
		return -1;
	}
	for (;;)
	{
		ssize_t		len = recv(pps_nl_fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0)
		{
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "could not receive a sock_diag reply: %m");
			return -1;
		}
		if (len == 0)
			return found;
		for (h = (struct nlmsghdr *) buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
		{
			if (h->nlmsg_seq != pps_nl_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return found;
			if (h->nlmsg_type == NLMSG_ERROR)
			{
				struct nlmsgerr *e = (struct nlmsgerr *) NLMSG_DATA(h);

				if (e->error == 0)
					return found;
				errno = -e->error;
				snprintf(err, errlen, "sock_diag request for address family %d failed: %m", family);
				return -1;
			}
			if (found < max && pps_accept_parse_one(h, family, &out[found]))
				found++;
			if (!dump)
				return found;
		}
	}
}

static void
pps_accept_fill_request(PpsDiagRequest *msg, int family, const PpsListener *exact)
{
	memset(msg, 0, sizeof(*msg));
	msg->nlh.nlmsg_flags = NLM_F_REQUEST | (exact ? 0 : NLM_F_DUMP);
	if (family == AF_UNIX)
	{
		msg->nlh.nlmsg_len = NLMSG_LENGTH(sizeof(struct unix_diag_req));
		msg->req.ux.sdiag_family = AF_UNIX;
		msg->req.ux.udiag_states = 1 << TCP_LISTEN;
		msg->req.ux.udiag_show = UDIAG_SHOW_RQLEN;
		msg->req.ux.udiag_cookie[0] = INET_DIAG_NOCOOKIE;
		msg->req.ux.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
		if (exact)
			msg->req.ux.udiag_ino = (uint32) exact->inode;
	}
	else
	{
		msg->nlh.nlmsg_len = NLMSG_LENGTH(sizeof(struct inet_diag_req_v2));
		msg->req.inet.sdiag_family = family;
		msg->req.inet.sdiag_protocol = IPPROTO_TCP;
		msg->req.inet.idiag_states = 1 << TCP_LISTEN;
		msg->req.inet.idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1);
		msg->req.inet.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
		msg->req.inet.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
		if (exact)
		{
			/* the listener is found by its local address and port */
			memcpy(msg->req.inet.id.idiag_src, exact->addr, sizeof(exact->addr));
			msg->req.inet.id.idiag_sport = exact->port;
			msg->req.inet.id.idiag_if = exact->ifindex;
		}
	}
}

/* Full dump of every listening socket: learn which ones are ours. */
static bool
pps_accept_discover(pid_t pid, char *err, size_t errlen)
{
	static const int families[] = {AF_INET, AF_INET6, AF_UNIX};
	PpsDiagRequest msg;

	pps_nknown = -1;
	if (!pps_accept_scan_inodes(pid, err, errlen))
		return false;

	pps_nknown = 0;
	for (int i = 0; i < (int) lengthof(families); i++)
	{
		int			n;

		pps_accept_fill_request(&msg, families[i], NULL);
		n = pps_accept_request(&msg, families[i], &pps_known[pps_nknown],
							   PPS_MAX_LISTENERS - pps_nknown, err, errlen);
		if (n < 0)
		{
			pps_nknown = -1;
			return false;
		}
		pps_nknown += n;
	}
	if (pps_nknown == 0)
	{
		snprintf(err, errlen, "the postmaster (pid %d) has no listening socket", (int) pid);
		pps_nknown = -1;
		return false;
	}
	return true;
}

/*
 * A Unix listener is found by inode, and the kernel finds an inode by
 * walking every Unix socket of the namespace (unix_lookup_by_ino): with
 * thousands of local connections that is milliseconds.  So the Unix
 * listeners are looked up only every pps_unix_every reads, chosen from the
 * last lookup's cost to keep it under PPS_ACCEPT_UNIX_BUDGET_US per read on
 * average (at most every PPS_ACCEPT_UNIX_MAX_EVERY reads); in between
 * their last reading is reused.  TCP listeners are a hash lookup: every read.
 */
#define PPS_ACCEPT_UNIX_BUDGET_US 50.0
#define PPS_ACCEPT_UNIX_MAX_EVERY 10

static PpsListener pps_unix_last[PPS_MAX_LISTENERS];
static int	pps_unix_every = 1;
static int	pps_unix_skip = 0;
static double pps_unix_lookup_us = 0;

static double
pps_accept_thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Ask for each known listener by address or inode. */
static bool
pps_accept_lookup(PpsAcceptReading *r, char *err, size_t errlen)
{
	PpsDiagRequest msg;
	bool		skip_unix = pps_unix_skip > 0;
	double		unix_us = 0;

	for (int i = 0; i < pps_nknown; i++)
	{
		PpsListener *l = &r->listeners[r->nlisteners];
		bool		is_unix = pps_known[i].family == AF_UNIX;
		double		start = 0;

		if (is_unix && skip_unix)
		{
			*l = pps_unix_last[i];
			r->nlisteners++;
			continue;
		}
		if (is_unix)
			start = pps_accept_thread_cpu_us();
		pps_accept_fill_request(&msg, pps_known[i].family, &pps_known[i]);
		if (pps_accept_request(&msg, pps_known[i].family, l, 1, err, errlen) != 1 ||
			l->inode != pps_known[i].inode)
			return false;
		if (is_unix)
		{
			unix_us += pps_accept_thread_cpu_us() - start;
			pps_unix_last[i] = *l;
		}
		r->nlisteners++;
	}
	if (skip_unix)
		pps_unix_skip--;
	else
	{
		pps_unix_lookup_us = unix_us;
		pps_unix_every = Min(Max((int) ceil(unix_us / PPS_ACCEPT_UNIX_BUDGET_US), 1),
							 PPS_ACCEPT_UNIX_MAX_EVERY);
		pps_unix_skip = pps_unix_every - 1;
	}
	r->unix_every = pps_unix_every;
	r->unix_lookup_us = pps_unix_lookup_us;
	return true;
}

bool
pps_accept_read(pid_t postmaster_pid, PpsAcceptReading *r,
				char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));

	if (pps_nl_fd < 0)
	{
		pps_nl_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		if (pps_nl_fd < 0)
		{
			snprintf(err, errlen, "could not open a NETLINK_SOCK_DIAG socket: %m");
			return false;
		}
	}

	if (pps_nknown < 0 || !pps_accept_lookup(r, err, errlen))
	{
		/* first call, or a listener went away: learn them again */
		if (!pps_accept_discover(postmaster_pid, err, errlen))
			return false;
		r->nlisteners = 0;
		memcpy(r->listeners, pps_known, sizeof(PpsListener) * pps_nknown);
		r->nlisteners = pps_nknown;
		/* the indices changed: look every listener up next time */
		pps_unix_skip = 0;
		r->unix_every = 1;
	}

	for (int i = 0; i < r->nlisteners; i++)
	{
		r->depth += r->listeners[i].queued;
		r->max_backlog = Max(r->max_backlog, r->listeners[i].backlog);
		r->drops += r->listeners[i].drops;
	}
	return true;
}

void
pps_accept_close(void)
{
	if (pps_nl_fd >= 0)
		close(pps_nl_fd);
	pps_nl_fd = -1;
	pps_nknown = -1;
}
