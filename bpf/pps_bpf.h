/*-------------------------------------------------------------------------
 *
 * pps_bpf.h
 *	  Record layout shared by the eBPF program (pps.bpf.c), its loader
 *	  (pg_postmaster_stats_bpf) and the extension (source_bpf.c).
 *
 * The program keeps every counter in one struct pps_bpf_stats, its only
 * zero-initialised global, so libbpf places it alone at offset 0 of the
 * ".bss" array map.  The loader hands that map's fd to the sampler worker
 * over a Unix socket (SCM_RIGHTS); the worker mmaps it read-only and copies
 * it with plain 64-bit loads: no syscall, no lock.  Only the program writes,
 * and only with atomic adds, so every field is monotonic and never torn; a
 * copy is not a snapshot across fields (exits may be one ahead of reaps).
 *
 * Gauges the reader derives:
 *	 zombies = sum(exits) + sum(exits_unseen_fork) - reaps: children that
 *	 have exited and that the postmaster has not yet reaped.  Exact when the
 *	 programs were attached while no child was a zombie; reaps_unmatched
 *	 counts reaps of children whose exit was not seen (exited before
 *	 attach), so a reader that wants it exact subtracts reaps -
 *	 reaps_unmatched instead, clamped at 0.  Without the syscall programs
 *	 reaps are counted when the kernel frees the child, an RCU grace period
 *	 (milliseconds) after the reap: a child stays a zombie that much longer.
 *
 * exits counts only children whose fork the programs saw, so that
 * sum(exits) <= forks always holds; children forked before the attach
 * (the postmaster's first children, or every child alive when a sampler
 * restarted) are counted in exits_unseen_fork when they exit.
 *
 * Only fixed-width __u32/__u64 types: this file is compiled by clang for
 * the BPF target (after vmlinux.h, which defines them) and by cc for the
 * loader and the extension (<linux/types.h>).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_BPF_H
#define PPS_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bump PPS_BPF_LAYOUT_VERSION whenever a struct below changes. */
#define PPS_BPF_STATS_MAGIC		0x50505342	/* "PPSB" */
#define PPS_BPF_HELLO_MAGIC		0x50505348	/* "PPSH" */
#define PPS_BPF_LAYOUT_VERSION	5

/* Kinds of postmaster children, decided when the child exits (pps.bpf.c). */
enum pps_bpf_child_type
{
	PPS_BPF_CHILD_CLIENT_BACKEND = 0,
	PPS_BPF_CHILD_PARALLEL_WORKER,
	PPS_BPF_CHILD_AUTOVACUUM_WORKER,
	PPS_BPF_CHILD_BACKGROUND_WORKER,
	PPS_BPF_CHILD_WALSENDER,
	PPS_BPF_CHILD_AUXILIARY,
	PPS_BPF_CHILD_OTHER,		/* title unreadable or not yet set */
	PPS_BPF_NCHILD_TYPES
};

/* What the postmaster was doing when a CPU sample hit it. */
enum pps_bpf_cpu_state
{
	PPS_BPF_CPU_FORK = 0,		/* in clone()/clone3() */
	PPS_BPF_CPU_REAP,			/* in wait4()/waitid() */
	PPS_BPF_CPU_ACCEPT,			/* in accept()/accept4() */
	PPS_BPF_CPU_OTHER,			/* user space or any other syscall */
	PPS_BPF_NCPU_STATES
};

/*
 * log2 histogram in microseconds, the same buckets as pps_histogram.h:
 * bucket 0 counts v == 0, bucket k (1..25) counts 2^(k-1) <= v < 2^k, and
 * bucket 26 counts v >= 2^25 us (33.6 s).  sum_ns keeps the exact total so
 * a mean does not suffer from truncation to whole microseconds.
 */
#define PPS_BPF_HIST_BUCKETS	27

struct pps_bpf_hist
{
	__u64		bucket[PPS_BPF_HIST_BUCKETS];
	__u64		sum_ns;
};

struct pps_bpf_stats
{
	__u32		magic;			/* PPS_BPF_STATS_MAGIC, set by the loader */
	__u32		layout_version; /* PPS_BPF_LAYOUT_VERSION, set by the loader */

	__u64		forks;			/* new processes forked by the postmaster */
	__u64		reaps;			/* children returned by its wait4()/waitid()
								 * (sys_exit), or freed once reaped (pps_free,
								 * without the syscall programs) */
	__u64		reaps_unmatched;	/* ... whose exit was not seen */
	__u64		accepts;		/* connections its accept() returned */
	__u64		map_full;		/* child records dropped: map full */

	__u64		exits[PPS_BPF_NCHILD_TYPES];	/* of children forked since attach */
	__u64		exits_unseen_fork[PPS_BPF_NCHILD_TYPES];	/* ... forked before */
	__u64		exits_abnormal[PPS_BPF_NCHILD_TYPES];	/* exit code != 0 */
	__u64		exits_signaled[PPS_BPF_NCHILD_TYPES];	/* killed by a signal */

	__u64		cpu_samples[PPS_BPF_NCPU_STATES];	/* postmaster on CPU */

	/*
	 * Samples of any server process (the postmaster or one of its children)
	 * on CPU, and those of them whose user instruction pointer was inside
	 * GetSnapshotData (only counted when the loader got --snapshot-range).
	 */
	__u64		server_samples;
	__u64		snapshot_samples;

	struct pps_bpf_hist fork_us;	/* clone() duration in the postmaster */
	struct pps_bpf_hist reap_us;	/* child exit -> postmaster reaps it */
	struct pps_bpf_hist lifetime_us;	/* child fork -> child exit */
};

/*
 * The programs, in the order the loader sends the fds of those it loaded
 * (see the hello's prog_mask): the sampler reads each one's run count and
 * run time from the kernel (bpf_prog_info) for
 * pg_postmaster_stats_overhead.
 */
enum pps_bpf_prog
{
	PPS_BPF_PROG_SYS_ENTER = 0,
	PPS_BPF_PROG_SYS_EXIT,
	PPS_BPF_PROG_FORK,
	PPS_BPF_PROG_EXIT,
	PPS_BPF_PROG_CPU_SAMPLE,	/* only when sampling is attached */
	PPS_BPF_PROG_FREE,			/* only without the syscall pair */
	PPS_BPF_NPROGS
};

/*
 * The loader's one message to the worker, sent with SCM_RIGHTS fds:
 * fd 0 is the .bss map (mmap it), then nprogs program fds (those whose
 * bit 1 << enum pps_bpf_prog is set in prog_mask, in enum order; only
 * read, never attached by the worker), the rest are BPF links (closing
 * them detaches the programs) and, last, the lock file that keeps any
 * other loader from attaching to the same postmaster while these links
 * live.  On failure flags lacks PPS_BPF_HELLO_OK, nfds is 0 and message
 * says which step failed and how to fix it.
 */
#define PPS_BPF_HELLO_OK		0x1
#define PPS_BPF_HELLO_SAMPLING	0x2 /* perf_event sampling attached */
#define PPS_BPF_HELLO_SNAPSHOT	0x4 /* ... and counting GetSnapshotData */
#define PPS_BPF_HELLO_SYSCALLS	0x8 /* sys_enter/sys_exit attached */

#define PPS_BPF_MESSAGE_LEN		256
#define PPS_BPF_MAX_FDS			250 /* below the kernel's SCM_MAX_FD (253) */

struct pps_bpf_hello
{
	__u32		magic;			/* PPS_BPF_HELLO_MAGIC */
	__u32		layout_version; /* PPS_BPF_LAYOUT_VERSION */
	__u32		flags;			/* PPS_BPF_HELLO_* */
	__u32		nfds;			/* fds attached to this message */
	__u32		stats_size;		/* sizeof(struct pps_bpf_stats) */
	__u32		sample_hz;		/* 0 when sampling is off */
	__u32		sample_cpus;
	__u32		exit_code;		/* PPS_BPF_EXIT_*, the loader's exit status */
	__u32		nprogs;			/* program fds after the map fd */
	__u32		prog_mask;		/* which programs they are: 1 << pps_bpf_prog */
	char		message[PPS_BPF_MESSAGE_LEN];	/* NUL-terminated, one line */
};

/*
 * The worker's one message to the loader, queued on the socket before the
 * loader starts: a one-time token that the worker also wrote, with its
 * pid, to PPS_BPF_TOKEN_FILE in the data directory (mode 0600).  Only a
 * process that can write the data directory, i.e. the server itself, can
 * make the two agree.  The loader removes the file once read.
 */
#define PPS_BPF_REQUEST_MAGIC	0x50505352	/* "PPSR" */
#define PPS_BPF_TOKEN_LEN		64	/* hex digits */
#define PPS_BPF_TOKEN_FILE		"pg_stat_tmp/pg_postmaster_stats_bpf.token"
/* held (flock) for as long as one set of links for the postmaster lives */
#define PPS_BPF_LOCK_FILE		"pg_stat_tmp/pg_postmaster_stats_bpf.lock"

struct pps_bpf_request
{
	__u32		magic;			/* PPS_BPF_REQUEST_MAGIC */
	__u32		layout_version; /* PPS_BPF_LAYOUT_VERSION */
	char		token[PPS_BPF_TOKEN_LEN + 1];	/* NUL-terminated */
};

/* The loader's exit codes, one per failed step. */
#define PPS_BPF_EXIT_OK				0
#define PPS_BPF_EXIT_USAGE			2	/* bad or missing arguments */
#define PPS_BPF_EXIT_BAD_FD			3	/* --fd is not a Unix socket */
#define PPS_BPF_EXIT_NO_SUCH_PID	4
#define PPS_BPF_EXIT_OTHER_USER		5	/* --pid belongs to another user */
#define PPS_BPF_EXIT_NOT_POSTMASTER	6
#define PPS_BPF_EXIT_NOT_CHILD		7	/* caller is not the postmaster's child */
#define PPS_BPF_EXIT_UNSUPPORTED	8	/* no BTF, or not the host's PID namespace */
#define PPS_BPF_EXIT_NO_CAPS		9	/* cap_bpf,cap_perfmon missing */
#define PPS_BPF_EXIT_LOAD			10
#define PPS_BPF_EXIT_ATTACH			11
#define PPS_BPF_EXIT_DROP_CAPS		12
#define PPS_BPF_EXIT_SEND			13
#define PPS_BPF_EXIT_BAD_RANGE		14	/* --snapshot-range is not the postmaster's code */
#define PPS_BPF_EXIT_NOT_SAMPLER	15	/* no valid token: not the extension's sampler */
#define PPS_BPF_EXIT_ALREADY		16	/* another loader's links for this postmaster live */

#endif							/* PPS_BPF_H */
