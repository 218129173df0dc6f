/*-------------------------------------------------------------------------
 *
 * source_accept.h
 *	  Connections queued in the kernel, waiting for the postmaster's accept().
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_ACCEPT_H
#define SOURCE_ACCEPT_H

#include <sys/types.h>

#define PPS_MAX_LISTENERS 64

typedef struct PpsListener
{
	uint64		inode;
	int			family;			/* AF_INET, AF_INET6 or AF_UNIX */
	uint8		addr[16];		/* local address (TCP), network order */
	uint16		port;			/* local port (TCP), network order */
	uint32		ifindex;		/* bound device (TCP), 0 if none */
	int32		queued;			/* connections waiting for accept() */
	int32		backlog;		/* the queue's capacity */
	int64		drops;			/* sk_drops: connections the queue refused */
} PpsListener;

typedef struct PpsAcceptReading
{
	int			nlisteners;
	PpsListener listeners[PPS_MAX_LISTENERS];
	int32		depth;			/* sum of queued over all listeners */
	int32		max_backlog;	/* largest capacity of any listener */
	int64		drops;			/* sum of drops over TCP listeners */
	int			unix_every;		/* Unix listeners looked up every this many reads */
	double		unix_lookup_us; /* thread CPU of their last lookup */
} PpsAcceptReading;

extern bool pps_accept_read(pid_t postmaster_pid, PpsAcceptReading *r,
							char *err, size_t errlen);
extern void pps_accept_close(void);

#endif							/* SOURCE_ACCEPT_H */
