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
 * Only listening sockets are dumped, so the cost does not grow with the
 * number of connected clients.
 *
 * The sampler is a child of the postmaster but has closed the listen
 * sockets, so they are identified by inode from /proc/<postmaster>/fd.
 * Those inodes are cached and rescanned when one disappears.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pps_procfs.h"
#include "source_accept.h"

static int	pps_nl_fd = -1;
static uint64 pps_socket_inodes[PPS_MAX_LISTENERS * 4];
static int	pps_nsocket_inodes = -1;	/* -1: not scanned yet */
static uint32 pps_nl_seq = 0;

/* Collect the inodes of every socket the postmaster has open. */
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

static void
pps_accept_add(PpsAcceptReading *r, uint64 inode, int family,
			   uint32 queued, uint32 backlog)
{
	PpsListener *l;

	if (!pps_accept_is_postmaster_socket(inode) ||
		r->nlisteners >= PPS_MAX_LISTENERS)
		return;
	l = &r->listeners[r->nlisteners++];
	l->inode = inode;
	l->family = family;
	l->queued = (int32) queued;
	l->backlog = (int32) backlog;
	r->depth += l->queued;
	r->max_backlog = Max(r->max_backlog, l->backlog);
}

/* Parse one netlink reply datagram; returns 1 when the dump is done. */
static int
pps_accept_parse(char *buf, ssize_t len, int family, PpsAcceptReading *r,
				 char *err, size_t errlen)
{
	struct nlmsghdr *h;

	for (h = (struct nlmsghdr *) buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
	{
		if (h->nlmsg_seq != pps_nl_seq)
			continue;
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR)
		{
			struct nlmsgerr *e = (struct nlmsgerr *) NLMSG_DATA(h);

			errno = -e->error;
			snprintf(err, errlen, "sock_diag request for address family %d failed: %m",
					 family);
			return -1;
		}
		if (family == AF_UNIX)
		{
			struct unix_diag_msg *m = (struct unix_diag_msg *) NLMSG_DATA(h);
			int			alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
			struct rtattr *a;

			for (a = (struct rtattr *) (m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
			{
				if (a->rta_type == UNIX_DIAG_RQLEN)
				{
					struct unix_diag_rqlen *q = RTA_DATA(a);

					pps_accept_add(r, m->udiag_ino, AF_UNIX,
								   q->udiag_rqueue, q->udiag_wqueue);
				}
			}
		}
		else
		{
			struct inet_diag_msg *m = (struct inet_diag_msg *) NLMSG_DATA(h);

			pps_accept_add(r, m->idiag_inode, family,
						   m->idiag_rqueue, m->idiag_wqueue);
		}
	}
	return 0;
}

/* Dump the listening sockets of one address family. */
static bool
pps_accept_dump(int family, PpsAcceptReading *r, char *err, size_t errlen)
{
	struct
	{
		struct nlmsghdr nlh;
		union
		{
			struct inet_diag_req_v2 inet;
			struct unix_diag_req ux;
		}			req;
	}			msg;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char		buf[16384];

	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.nlh.nlmsg_seq = ++pps_nl_seq;
	if (family == AF_UNIX)
	{
		msg.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(struct unix_diag_req));
		msg.req.ux.sdiag_family = AF_UNIX;
		msg.req.ux.udiag_states = 1 << TCP_LISTEN;
		msg.req.ux.udiag_show = UDIAG_SHOW_RQLEN;
	}
	else
	{
		msg.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(struct inet_diag_req_v2));
		msg.req.inet.sdiag_family = family;
		msg.req.inet.sdiag_protocol = IPPROTO_TCP;
		msg.req.inet.idiag_states = 1 << TCP_LISTEN;
	}

	if (sendto(pps_nl_fd, &msg, msg.nlh.nlmsg_len, 0,
			   (struct sockaddr *) &sa, sizeof(sa)) < 0)
	{
		snprintf(err, errlen, "could not send sock_diag request: %m");
		return false;
	}
	for (;;)
	{
		ssize_t		len = recv(pps_nl_fd, buf, sizeof(buf), 0);
		int			rc;

		if (len < 0)
		{
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "could not receive sock_diag reply: %m");
			return false;
		}
		if (len == 0)
			return true;
		rc = pps_accept_parse(buf, len, family, r, err, errlen);
		if (rc < 0)
			return false;
		if (rc > 0)
			return true;
	}
}

/* ListenOverflows and ListenDrops from the TcpExt lines of /proc/net/netstat. */
static bool
pps_accept_read_netstat(PpsAcceptReading *r)
{
	char		buf[8192];
	char	   *names;
	char	   *values;
	int			found = 0;

	if (pps_read_file("/proc/net/netstat", buf, sizeof(buf)) <= 0)
		return false;
	names = strstr(buf, "TcpExt:");
	if (names == NULL)
		return false;
	values = strstr(names + 1, "TcpExt:");
	if (values == NULL)
		return false;

	/* walk the header and value lines in step */
	names += strlen("TcpExt:");
	values += strlen("TcpExt:");
	while (*names && *names != '\n' && *values && *values != '\n')
	{
		char	   *name_end;
		char	   *value_end;
		size_t		name_len;
		long long	v;

		while (*names == ' ')
			names++;
		name_end = names;
		while (*name_end && *name_end != ' ' && *name_end != '\n')
			name_end++;
		name_len = name_end - names;
		v = strtoll(values, &value_end, 10);
		if (value_end == values)
			break;
		if (name_len == strlen("ListenOverflows") &&
			strncmp(names, "ListenOverflows", name_len) == 0)
		{
			r->listen_overflows = v;
			found++;
		}
		else if (name_len == strlen("ListenDrops") &&
				 strncmp(names, "ListenDrops", name_len) == 0)
		{
			r->listen_drops = v;
			found++;
		}
		names = name_end;
		values = value_end;
	}
	return found == 2;
}

bool
pps_accept_read(pid_t postmaster_pid, PpsAcceptReading *r,
				char *err, size_t errlen)
{
	static const int families[] = {AF_INET, AF_INET6, AF_UNIX};

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
	if (pps_nsocket_inodes < 0 &&
		!pps_accept_scan_inodes(postmaster_pid, err, errlen))
		return false;

	for (int attempt = 0; attempt < 2; attempt++)
	{
		r->nlisteners = 0;
		r->depth = 0;
		r->max_backlog = 0;
		for (int i = 0; i < (int) lengthof(families); i++)
			if (!pps_accept_dump(families[i], r, err, errlen))
				return false;
		if (r->nlisteners > 0)
			break;
		/* the cached inodes matched nothing: sockets changed, rescan once */
		if (!pps_accept_scan_inodes(postmaster_pid, err, errlen))
			return false;
	}

	r->have_netstat = pps_accept_read_netstat(r);
	if (r->nlisteners == 0)
	{
		snprintf(err, errlen, "the postmaster (pid %d) has no listening socket", (int) postmaster_pid);
		return false;
	}
	return true;
}

void
pps_accept_close(void)
{
	if (pps_nl_fd >= 0)
		close(pps_nl_fd);
	pps_nl_fd = -1;
	pps_nsocket_inodes = -1;
}
