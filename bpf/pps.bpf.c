/*-------------------------------------------------------------------------
 *
 * pps.bpf.c
 *	  Exact fork, exit and reap accounting for one postmaster, and on-CPU
 *	  sampling of its server's processes (eBPF, CO-RE).
 *
 * Loaded by pg_postmaster_stats_bpf, which sets the postmaster's identity,
 * title_skip and the GetSnapshotData range before load and hands the .bss
 * map and the links to the sampler worker (see pps_bpf.h for the layout
 * and who reads it).
 *
 * The postmaster is identified by its pid and its start time together:
 * the links live as long as the sampler keeps them, and a pid alone would
 * match whatever process gets that pid after the postmaster exits.  Every
 * program compares the current or parent tgid with the postmaster's before
 * anything else (sys_enter/sys_exit run on every syscall of the machine, so
 * an unrelated process pays one helper call and one compare); only on a
 * match does it read the start time.
 *
 * Which child is which is decided when it exits, in this order:
 *
 * 1. Connection children.  The postmaster forks a client backend (or a
 *	  walsender, or a child that only serves a cancel request or refuses a
 *	  connection) right after accept() returns, and forks nothing else in
 *	  between (its signals are blocked outside its wait for events).  So a
 *	  child forked after an accept() and before the postmaster waits again
 *	  (select/poll/epoll) is a connection child, whatever its title says:
 *	  user and database names may contain spaces or look like process
 *	  names, so no title rule can be exact for them.  A title starting with
 *	  "walsender " makes it a walsender; otherwise it is a client backend,
 *	  also when it exited before setting a title.
 * 2. Every other child is named by its title, read from mm->arg_start
 *	  (PostgreSQL rewrites argv in place: "postgres: [cluster: ]<name> ..."),
 *	  after title_skip bytes: "parallel worker" and "autovacuum worker"
 *	  prefixes; the postmaster's fixed-purpose children by exact first word(s)
 *	  (auxiliary); anything else with a title is a background worker
 *	  (bgw_name: "pg_postmaster_stats sampler", "logical replication
 *	  launcher", "logical replication worker for subscription ...").
 * 3. A child whose fork the syscall programs did not see (forked before
 *	  the attach, or with pg_postmaster_stats.ebpf_syscalls = off) missed
 *	  step 1: for it, a "walsender " prefix, or a host
 *	  word ("[local]" or ending in "<port>)") as backends put after user and
 *	  database, means a walsender or client backend.  The exit of a child
 *	  forked before the attach is counted apart (exits_unseen_fork), never
 *	  among the exits: those count only children whose fork was seen, so
 *	  that they can never exceed the forks.
 * 4. No title (mm gone, unreadable, or still the postmaster's argv): other.
 *
 * The title is readable at sched_process_exit on kernels where that
 * tracepoint fires before exit_mm() (those whose tracepoint carries a
 * group_dead argument, 6.x kernels); on older kernels task->mm is NULL
 * there, walsenders count as client backends and the other non-connection
 * children as other.
 *
 *-------------------------------------------------------------------------
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "pps_bpf.h"

/*
 * The kernel loads tracing programs only if they declare a GPL-compatible
 * licence; this file is offered under the project's licence or the GPL.
 */
char		LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Syscall numbers: vmlinux.h has no __NR_* constants. */
#if defined(__TARGET_ARCH_x86)
#define NR_ACCEPT	43
#define NR_CLONE	56
#define NR_WAIT4	61
#define NR_WAITID	247
#define NR_ACCEPT4	288
#define NR_CLONE3	435
/* poll, select, epoll_wait, pselect6, ppoll, epoll_pwait, epoll_pwait2 */
#define IS_WAIT_FOR_EVENTS(nr) ((nr) == 7 || (nr) == 23 || (nr) == 232 || \
	(nr) == 270 || (nr) == 271 || (nr) == 281 || (nr) == 441)
#elif defined(__TARGET_ARCH_arm64)
#define NR_WAITID	95
#define NR_ACCEPT	202
#define NR_CLONE	220
#define NR_ACCEPT4	242
#define NR_WAIT4	260
#define NR_CLONE3	435
/* epoll_pwait, pselect6, ppoll, epoll_pwait2 */
#define IS_WAIT_FOR_EVENTS(nr) ((nr) == 22 || (nr) == 72 || (nr) == 73 || \
	(nr) == 441)
#else
#error "syscall numbers for this architecture are missing in pps.bpf.c"
#endif

#define TITLE_LEN	128
#define EXIT_SIGNAL_MASK 0x7f	/* low bits of exit_code: killing signal */

/* Set by the loader before load, so the verifier sees constants. */
const volatile __u32 postmaster_tgid = 0;
/*
 * Its start time as /proc/<pid>/stat shows it, in clock ticks, as the range
 * of start_boottime values (ns) that fall in that tick: [lo, hi).  A range,
 * so that the check on every postmaster syscall is two compares, not a
 * division.
 */
const volatile __u64 postmaster_start_lo = 0;
const volatile __u64 postmaster_start_hi = 0;
const volatile __u32 title_skip = 10;	/* strlen("postgres: ") */
/* [snapshot_start, snapshot_end): GetSnapshotData's code; 0, 0 if unknown */
const volatile __u64 snapshot_start = 0;
const volatile __u64 snapshot_end = 0;

/* The only zero-initialised global: it is the whole .bss map. */
struct pps_bpf_stats stats = {};

/*
 * What the syscall programs saw of the postmaster's thread; only that
 * thread writes it (sys_enter, sys_exit and the fork program run in it).
 */
struct pm_syscall
{
	__u64		clone_enter_ns; /* entry of the clone()/clone3() in progress;
								 * 0: none seen */
	__u64		clone_forks;	/* stats.forks at that entry */
	__u32		in_clone;		/* sys_enter saw that entry, no fork yet */
	__u32		accept_pending; /* accept() returned since the postmaster
								 * last waited for events, no fork yet */
	__u32		wait_seen;		/* sys_exit saw it return from waiting for
								 * events: every accept() since was seen */
	__u32		pad;
};

struct
{
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pm_syscall);
} pm_syscall SEC(".maps");

/*
 * One record per child (from fork) and per exited child forked before the
 * attach (from exit), deleted when the postmaster reaps it (sys_exit) or,
 * without the syscall programs, when the kernel frees the reaped child
 * (pps_free).  Not preallocated: it is usually nearly empty.
 */
struct child
{
	__u64		exit_ns;		/* 0 while running */
	__u64		start_ns;		/* its task's start_time: pids are reused */
	__u32		traced;			/* sys_enter saw the clone that forked it */
	__u32		connection;		/* ... right after an accept() */
};

struct
{
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct child);
} children SEC(".maps");

/* t (any thread of its process) is the postmaster the loader checked */
static __always_inline bool
is_postmaster(struct task_struct *t)
{
	struct task_struct *leader = t->group_leader;
	__u64		started = leader->start_boottime;

	return leader->tgid == postmaster_tgid &&
		started >= postmaster_start_lo && started < postmaster_start_hi;
}

static __always_inline bool
is_postmaster_thread(void)
{
	return bpf_get_current_pid_tgid() ==
		(((__u64) postmaster_tgid << 32) | postmaster_tgid) &&
		is_postmaster(bpf_get_current_task_btf());
}

static __always_inline struct pm_syscall *
get_pm_syscall(void)
{
	__u32		zero = 0;

	return bpf_map_lookup_elem(&pm_syscall, &zero);
}

static __always_inline __u32
log2_u64(__u64 v)
{
	__u32		r = 0;

	if (v >> 32)
	{
		v >>= 32;
		r += 32;
	}
	if (v >> 16)
	{
		v >>= 16;
		r += 16;
	}
	if (v >> 8)
	{
		v >>= 8;
		r += 8;
	}
	if (v >> 4)
	{
		v >>= 4;
		r += 4;
	}
	if (v >> 2)
	{
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

static __always_inline void
hist_record(struct pps_bpf_hist *h, __u64 ns)
{
	__u64		us = ns / 1000;
	__u32		k = us ? log2_u64(us) + 1 : 0;

	if (k >= PPS_BPF_HIST_BUCKETS)
		k = PPS_BPF_HIST_BUCKETS - 1;
	__sync_fetch_and_add(&h->bucket[k], 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
}

/* s starts with the n bytes of p (n is a compile-time constant) */
static __always_inline bool
has_prefix(const char *s, const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != p[i])
			return false;
	return true;
}

#define PREFIX(s, lit) has_prefix((s), (lit), sizeof(lit) - 1)
/* the title's first word(s) are exactly lit: a space or the end follows */
#define NAME(s, lit) (PREFIX(s, lit) && \
					  ((s)[sizeof(lit) - 1] == ' ' || (s)[sizeof(lit) - 1] == '\0'))

/*
 * The postmaster's fixed-purpose children, by their titles in PostgreSQL 15
 * to 19: 17 added the WAL summarizer and the slot sync worker, 18 the I/O
 * workers, and 19 calls the logger "syslogger".  A title missing here would
 * count that process's exits as a background worker's.
 */
static __always_inline bool
is_auxiliary(const char *t)
{
	return NAME(t, "checkpointer") ||
		NAME(t, "background writer") ||
		NAME(t, "walwriter") ||
		NAME(t, "startup") ||
		NAME(t, "walreceiver") ||
		NAME(t, "archiver") ||
		NAME(t, "logger") ||
		NAME(t, "syslogger") ||
		NAME(t, "autovacuum launcher") ||
		NAME(t, "walsummarizer") ||
		NAME(t, "slotsync worker") ||
		NAME(t, "io worker");
}

/* a word "[local]" or one ending in "<digit>)", as a backend's host is */
static __always_inline bool
has_host_word(const char *t)
{
	for (int i = 1; i < TITLE_LEN - 8; i++)
	{
		char		c = t[i];

		if (c == '\0')
			break;
		if (c == '[' && t[i - 1] == ' ' && PREFIX(t + i, "[local]") &&
			(t[i + 7] == ' ' || t[i + 7] == '\0'))
			return true;
		if (c == ')' && t[i - 1] >= '0' && t[i - 1] <= '9' &&
			(t[i + 1] == ' ' || t[i + 1] == '\0'))
			return true;
	}
	return false;
}

/* The exiting child's kind; see the file header for the rules. */
static __always_inline __u32
classify(struct task_struct *task, bool traced, bool connection)
{
	__u32		untitled = connection ? PPS_BPF_CHILD_CLIENT_BACKEND :
		PPS_BPF_CHILD_OTHER;
	struct mm_struct *mm = task->mm;
	char		prefix[10];
	char		t[TITLE_LEN] = {};
	unsigned long start;

	if (!mm)
		return untitled;
	start = mm->arg_start;
	/* a child that never set its title still shows the postmaster's argv */
	if (bpf_probe_read_user(prefix, sizeof(prefix), (void *) start) < 0 ||
		!PREFIX(prefix, "postgres: "))
		return untitled;
	if (bpf_probe_read_user_str(t, sizeof(t), (void *) (start + title_skip)) <= 0)
		return untitled;

	if (connection)
		return PREFIX(t, "walsender ") ? PPS_BPF_CHILD_WALSENDER :
			PPS_BPF_CHILD_CLIENT_BACKEND;
	if (PREFIX(t, "parallel worker"))
		return PPS_BPF_CHILD_PARALLEL_WORKER;
	if (PREFIX(t, "autovacuum worker"))
		return PPS_BPF_CHILD_AUTOVACUUM_WORKER;
	if (is_auxiliary(t))
		return PPS_BPF_CHILD_AUXILIARY;
	if (!traced)
	{
		if (PREFIX(t, "walsender "))
			return PPS_BPF_CHILD_WALSENDER;
		if (has_host_word(t))
			return PPS_BPF_CHILD_CLIENT_BACKEND;
	}
	return PPS_BPF_CHILD_BACKGROUND_WORKER;
}

/* The postmaster reaped pid at now (sys_exit). */
static __always_inline void
record_reap(__u32 pid, __u64 now)
{
	struct child *c;

	__sync_fetch_and_add(&stats.reaps, 1);
	c = bpf_map_lookup_elem(&children, &pid);
	if (c && c->exit_ns)
		hist_record(&stats.reap_us, now - c->exit_ns);
	else
		__sync_fetch_and_add(&stats.reaps_unmatched, 1);
	if (c)
		bpf_map_delete_elem(&children, &pid);
}

SEC("tp_btf/sched_process_fork")
int
BPF_PROG(pps_fork, struct task_struct *parent, struct task_struct *child)
{
	struct pm_syscall *sc;
	struct child c = {};
	__u32		pid;

	/* runs in the parent */
	if (bpf_get_current_pid_tgid() >> 32 != postmaster_tgid ||
		!is_postmaster(parent))
		return 0;
	pid = child->pid;
	if (pid != child->tgid)
		return 0;				/* a new thread, not a process */
	__sync_fetch_and_add(&stats.forks, 1);

	/*
	 * Every child gets a record: its exit counts only if its fork did.  It
	 * is traced when sys_enter saw this clone begin and sys_exit had seen
	 * the postmaster return from waiting for events before: then every
	 * accept() in between was seen too (an accept() that returned just
	 * before the attach was not).
	 */
	c.start_ns = child->start_time;
	sc = get_pm_syscall();
	if (sc)
	{
		c.traced = sc->in_clone && sc->wait_seen;
		c.connection = c.traced && sc->accept_pending;
		sc->in_clone = 0;
		sc->accept_pending = 0;
	}
	if (bpf_map_update_elem(&children, &pid, &c, BPF_ANY) != 0)
		__sync_fetch_and_add(&stats.map_full, 1);
	return 0;
}

/* the system call number the entry code saved in the user registers */
static __always_inline __s64
saved_syscall_nr(struct pt_regs *user)
{
#if defined(__TARGET_ARCH_x86)
	return (__s64) BPF_CORE_READ(user, orig_ax);
#else
	return (__s32) BPF_CORE_READ(user, syscallno);
#endif
}

/*
 * Only the postmaster's clone()/clone3() entries matter here: the fork
 * time, and whether its child's fork was seen whole.
 */
SEC("tp_btf/sys_enter")
int
BPF_PROG(pps_sys_enter, struct pt_regs *regs, long id)
{
	struct pm_syscall *sc;

	if (id != NR_CLONE && id != NR_CLONE3)
		return 0;
	if (!is_postmaster_thread())
		return 0;
	sc = get_pm_syscall();
	if (!sc)
		return 0;
	sc->clone_enter_ns = bpf_ktime_get_ns();
	sc->clone_forks = stats.forks;
	sc->in_clone = 1;
	return 0;
}

/*
 * Which system call ends comes from the registers, not from a mark left at
 * its entry, which may have been before the attach.
 */
SEC("tp_btf/sys_exit")
int
BPF_PROG(pps_sys_exit, struct pt_regs *regs, long ret)
{
	struct pm_syscall *sc;
	__u64		now;
	__s64		nr;

	if (!is_postmaster_thread())
		return 0;
	sc = get_pm_syscall();
	if (!sc)
		return 0;
	nr = saved_syscall_nr(regs);
	now = bpf_ktime_get_ns();

	switch (nr)
	{
		case NR_CLONE:
		case NR_CLONE3:
			/* a failed fork must not tag the next child as a connection */
			sc->accept_pending = 0;
			sc->in_clone = 0;
			/* its entry seen, and exactly its own fork since */
			if (ret > 0 && sc->clone_enter_ns != 0 &&
				stats.forks == sc->clone_forks + 1)
				hist_record(&stats.fork_us, now - sc->clone_enter_ns);
			sc->clone_enter_ns = 0;
			break;
		case NR_WAIT4:
			if (ret > 0)
				record_reap(ret, now);
			break;
		case NR_WAITID:
			if (ret == 0)
			{
				/*
				 * waitid() reports the pid in siginfo (its third argument,
				 * still in its register); 0 with WNOHANG: none
				 */
				__s32		pid = 0;

				bpf_probe_read_user(&pid, sizeof(pid),
									(void *) (PT_REGS_PARM3_CORE_SYSCALL(regs) +
											  __builtin_offsetof(siginfo_t, _sifields._sigchld._pid)));
				if (pid > 0)
					record_reap(pid, now);
			}
			break;
		case NR_ACCEPT:
		case NR_ACCEPT4:
			if (ret >= 0)
			{
				__sync_fetch_and_add(&stats.accepts, 1);
				sc->accept_pending = 1;
			}
			break;
		default:
			/*
			 * Back from waiting for events: what follows until the next
			 * fork is seen.  An accepted connection that got no child (out
			 * of memory) is forgotten here, so the next fork is not it.
			 */
			if (IS_WAIT_FOR_EVENTS(nr))
			{
				sc->accept_pending = 0;
				sc->wait_seen = 1;
			}
			break;
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int
BPF_PROG(pps_exit, struct task_struct *task)
{
	struct child *c;
	bool		connection = false;
	bool		traced = false;
	__u64		now;
	__u32		pid;
	__u32		type;
	int			code;

	/* runs in the exiting task */
	if (task->real_parent->tgid != postmaster_tgid ||
		!is_postmaster(task->real_parent))
		return 0;
	pid = task->pid;
	if (pid != task->tgid)
		return 0;				/* one thread of a child, not the child */
	now = bpf_ktime_get_ns();

	/* remember the exit time for the reap latency */
	c = bpf_map_lookup_elem(&children, &pid);
	if (c && !c->exit_ns)
	{
		connection = c->connection;
		traced = c->traced;
		c->exit_ns = now;
	}
	else
	{
		struct child n = {.exit_ns = now, .start_ns = task->start_time};

		/*
		 * Forked before the attach (or its record was dropped): its kind is
		 * still counted apart, but not among the exits, which must never
		 * exceed the forks seen.
		 */
		if (bpf_map_update_elem(&children, &pid, &n, BPF_ANY) != 0)
			__sync_fetch_and_add(&stats.map_full, 1);
		type = classify(task, false, false);
		if (type >= PPS_BPF_NCHILD_TYPES)
			type = PPS_BPF_CHILD_OTHER;
		__sync_fetch_and_add(&stats.exits_unseen_fork[type], 1);
		return 0;
	}

	type = classify(task, traced, connection);
	if (type >= PPS_BPF_NCHILD_TYPES)
		type = PPS_BPF_CHILD_OTHER;
	__sync_fetch_and_add(&stats.exits[type], 1);
	code = task->exit_code;
	if (code != 0)
		__sync_fetch_and_add(&stats.exits_abnormal[type], 1);
	if (code & EXIT_SIGNAL_MASK)
		__sync_fetch_and_add(&stats.exits_signaled[type], 1);
	hist_record(&stats.lifetime_us, now - task->start_time);
	return 0;
}

/*
 * Without the syscall programs a reap is counted when the kernel frees the
 * reaped child (loaded only then, so no reap counts twice).  A process's
 * last reference goes only after its parent reaped it (release_task) and it
 * was switched out for the last time, then an RCU grace period passes: so
 * the reap is counted milliseconds late, and no reap latency is recorded.
 * This kernel (6.18) was seen to skip the event for a few tasks freed while
 * anything attached or detached a system call tracepoint (perf stat -e
 * 'raw_syscalls:*' does): their exits then stay among the zombies.
 */
SEC("tp_btf/sched_process_free")
int
BPF_PROG(pps_free, struct task_struct *task)
{
	struct task_struct *parent = task->real_parent;
	struct child *c;
	__u32		pid = task->pid;

	if (pid != task->tgid || parent->tgid != postmaster_tgid ||
		!is_postmaster(parent))
		return 0;
	__sync_fetch_and_add(&stats.reaps, 1);
	c = bpf_map_lookup_elem(&children, &pid);
	if (c && c->exit_ns && c->start_ns == task->start_time)
		bpf_map_delete_elem(&children, &pid);
	else
		__sync_fetch_and_add(&stats.reaps_unmatched, 1);
	return 0;
}

/*
 * The system call the sampled task is in, -1 if none.  A sample that hit
 * user mode is in none.  One that hit the kernel reads the number the
 * entry code saved in the task's user registers (x86-64 orig_ax, arm64
 * syscallno): an interrupt or an exception taken inside a system call
 * leaves that frame alone, while one taken from user mode stores -1 (or a
 * page fault's error code, 0-0x3f with the user bit set, which is never one
 * of the numbers counted below).  No sys_enter program needed.
 */
static __always_inline __s64
sampled_syscall(struct bpf_perf_event_data *ctx)
{
	struct pt_regs *user;

	if ((__s64) PT_REGS_IP(&ctx->regs) >= 0)
		return -1;
	user = (struct pt_regs *) bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!user)
		return -1;
	return saved_syscall_nr(user);
}

/* What the postmaster was doing when a sample found it on CPU. */
static __always_inline void
count_postmaster_state(struct bpf_perf_event_data *ctx)
{
	__u32		state = PPS_BPF_CPU_OTHER;

	switch (sampled_syscall(ctx))
	{
		case NR_CLONE:
		case NR_CLONE3:
			state = PPS_BPF_CPU_FORK;
			break;
		case NR_WAIT4:
		case NR_WAITID:
			state = PPS_BPF_CPU_REAP;
			break;
		case NR_ACCEPT:
		case NR_ACCEPT4:
			state = PPS_BPF_CPU_ACCEPT;
			break;
	}
	__sync_fetch_and_add(&stats.cpu_samples[state], 1);
}

/*
 * The user-space instruction pointer of the sampled task.  A sample that
 * hit user mode carries it in its registers.  One that hit the kernel
 * (x86-64 and arm64 put the kernel in the upper half: a negative address)
 * takes the user registers saved when the task entered the kernel: a page
 * fault or an interrupt taken inside GetSnapshotData is its cost and counts,
 * while a system call is made from libc and does not.
 */
static __always_inline __u64
sample_user_ip(struct bpf_perf_event_data *ctx)
{
	__u64		ip = PT_REGS_IP(&ctx->regs);
	struct pt_regs *user;

	if ((__s64) ip >= 0)
		return ip;
	user = (struct pt_regs *) bpf_task_pt_regs(bpf_get_current_task_btf());
	return user ? PT_REGS_IP_CORE(user) : 0;
}

/*
 * ~99 Hz cpu-clock samples on every CPU (perf events opened by the loader).
 * When the postmaster is on CPU: what is it doing?  When any server process
 * is (the postmaster or its child: every server process is forked by the
 * postmaster, never by another), is it inside GetSnapshotData?  Its address
 * is the same in all of them, as none of them exec()s.
 */
SEC("perf_event")
int
pps_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u32		tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();

	if (tgid == postmaster_tgid)
	{
		if (!is_postmaster(task))
			return 0;
		count_postmaster_state(ctx);
	}
	else if (task->real_parent->tgid != postmaster_tgid ||
			 !is_postmaster(task->real_parent))
		return 0;

	__sync_fetch_and_add(&stats.server_samples, 1);
	if (snapshot_end != 0)
	{
		__u64		ip = sample_user_ip(ctx);

		if (ip >= snapshot_start && ip < snapshot_end)
			__sync_fetch_and_add(&stats.snapshot_samples, 1);
	}
	return 0;
}
