/*-------------------------------------------------------------------------
 *
 * pps_worker_bpf.c
 *	  The sampler's side of the eBPF source: attach, fold, rates.
 *
 * The sampler starts the loader once (source_bpf.c) and from then on reads
 * the programs' counters from a read-only mapping, with no syscall.  Those
 * counters start at zero at every attach, so each tick "folds" their growth
 * since the previous tick into the shared-memory totals: the totals survive
 * a worker restart (only events while no worker is attached are missed).
 *
 * A crash of any backend makes the postmaster SIGQUIT everyone, the
 * sampler included, before it reinitializes shared memory.  The events of
 * that last partial interval -- the crash itself among them -- would be
 * lost with the sampler's mapping, so the SIGQUIT handler folds once more
 * before exiting.  Folding is loads from the mapping and atomic adds to
 * shared memory: async-signal-safe.  The regular fold blocks SIGQUIT so the
 * handler never sees a half-done fold.
 *
 * GetSnapshotData's address range, for the share of CPU samples inside it,
 * is computed here from this process's own dynamic symbol table: every
 * server process is forked from the postmaster without exec, so the address
 * is the same in all of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/procarray.h"
#include "utils/float.h"
#include "utils/guc.h"

#include "pps_guc.h"
#include "pps_worker_bpf.h"
#include "pps_worker_overhead.h"
#include "source_bpf.h"

/* the programs' counters at the last fold; zero right after an attach */
static struct pps_bpf_stats pps_wbpf_prev;
static bool pps_wbpf_failed = false;
/* this sampler's own fork was added to the totals (see pps_wbpf_own_exit) */
static bool pps_wbpf_own_fork_counted = false;
/* the sources detail: the loader's message, plus why no snapshot share */
static char pps_wbpf_status[PPS_DETAIL_LEN];

/* bytes of the process title before the backend type: "postgres: [name: ]" */
static int
pps_wbpf_title_skip(void)
{
	const char *name = GetConfigOption("cluster_name", true, false);
	int			skip = strlen("postgres: ");

	if (name && name[0] != '\0')
		skip += strlen(name) + 2;
	return skip;
}

/*
 * GetSnapshotData's code, [start, end), from its .dynsym entry (address and
 * st_size).  PostgreSQL links its executable with --export-dynamic, so a
 * stripped binary still has it.  False with why set when it cannot tell.
 */
static bool
pps_wbpf_snapshot_range(PpsBpfRange *r, char *why, size_t whylen)
{
	Dl_info		info;
	const ElfW(Sym) *sym = NULL;
	void	   *fn = (void *) GetSnapshotData;

	if (dladdr1(fn, &info, (void **) &sym, RTLD_DL_SYMENT) == 0 || sym == NULL ||
		info.dli_sname == NULL)
	{
		snprintf(why, whylen, "GetSnapshotData is not in the server's dynamic symbol table");
		return false;
	}
	if (info.dli_saddr != fn || strcmp(info.dli_sname, "GetSnapshotData") != 0)
	{
		snprintf(why, whylen, "GetSnapshotData's address resolves to %s", info.dli_sname);
		return false;
	}
	if (sym->st_size == 0)
	{
		snprintf(why, whylen, "GetSnapshotData has no size in the dynamic symbol table");
		return false;
	}
	r->start = (uint64) (uintptr_t) fn;
	r->end = r->start + sym->st_size;
	return true;
}

/*
 * Attach if enabled and not attached.  A failed attempt is not repeated on
 * every tick (each would start the loader again): only when retry is set,
 * i.e. after a configuration reload.
 */
void
pps_wbpf_attach(bool retry)
{
	char		err[PPS_DETAIL_LEN];
	char		why[128];
	PpsBpfRange range;
	bool		have_range;

	if (!pps_ebpf_enabled)
	{
		if (pps_bpf_active())
			pps_wbpf_detach();
		pps_shmem_sources_set(PPS_SRC_EBPF, false,
							  "pg_postmaster_stats.ebpf is off; set it to on and reload");
		return;
	}
	/* the syscall pair is loaded or not by the loader: run it again */
	if (pps_bpf_active() && pps_bpf_syscalls() != pps_ebpf_syscalls)
	{
		pps_wbpf_detach();
		retry = true;
	}
	if (pps_bpf_active() || (pps_wbpf_failed && !retry))
		return;

	have_range = pps_wbpf_snapshot_range(&range, why, sizeof(why));
	if (!pps_bpf_start(PostmasterPid, pps_ebpf_loader, pps_wbpf_title_skip(),
					   have_range ? &range : NULL, pps_ebpf_syscalls, err, sizeof(err)))
	{
		pps_wbpf_failed = true;
		pps_shmem_sources_set(PPS_SRC_EBPF, false, "%s; fix it, then SELECT pg_reload_conf()", err);
		ereport(LOG,
				(errmsg("pg_postmaster_stats: eBPF source not active: %s", err),
				 errhint("The other sources work without it; see pg_postmaster_stats_sources.")));
		return;
	}
	pps_wbpf_failed = false;
	memset(&pps_wbpf_prev, 0, sizeof(pps_wbpf_prev));
	pps_wovh_bpf_reset();

	/*
	 * The programs attach after this process was forked, and they are
	 * detached when it exits: its own fork and exit are the only ones of the
	 * postmaster's children they can never see.  The sampler counts both
	 * itself, so that they are in the totals and exits never exceed forks.
	 */
	if (!pps_wbpf_own_fork_counted)
	{
		pg_atomic_fetch_add_u64(&pps_shared->bpf_forks_total, 1);
		pps_wbpf_own_fork_counted = true;
	}
	if (pps_bpf_sampling() && !have_range)
		snprintf(pps_wbpf_status, sizeof(pps_wbpf_status),
				 "%s; no snapshot_cpu_share_pct: %s", pps_bpf_status(), why);
	else
		strlcpy(pps_wbpf_status, pps_bpf_status(), sizeof(pps_wbpf_status));
	if (!pps_bpf_syscalls())
		strlcat(pps_wbpf_status,
				"; system calls not traced (ebpf_syscalls = off): no fork times or reap latencies; on gives them at ~60 ns per system call of the machine",
				sizeof(pps_wbpf_status));
	pps_shmem_sources_set(PPS_SRC_EBPF, true, "%s", pps_wbpf_status);
}

void
pps_wbpf_detach(void)
{
	pps_bpf_stop();
	memset(&pps_wbpf_prev, 0, sizeof(pps_wbpf_prev));
	pps_wovh_bpf_reset();
}

static inline uint64
pps_wbpf_delta(uint64 cur, uint64 prev)
{
	return cur >= prev ? cur - prev : 0;
}

static void
pps_wbpf_fold_hist(PpsHistogram *h, const struct pps_bpf_hist *cur,
				   const struct pps_bpf_hist *prev)
{
	for (int k = 0; k < PPS_BPF_HIST_BUCKETS && k < PPS_HIST_BUCKETS; k++)
	{
		uint64		d = pps_wbpf_delta(cur->bucket[k], prev->bucket[k]);

		if (d)
			pg_atomic_fetch_add_u64(&h->bucket[k], d);
	}
	pg_atomic_fetch_add_u64(&h->sum_us, pps_wbpf_delta(cur->sum_ns, prev->sum_ns) / 1000);
}

/* Add cur - prev to the shared totals; async-signal-safe. */
static void
pps_wbpf_fold(const struct pps_bpf_stats *cur)
{
	const struct pps_bpf_stats *prev = &pps_wbpf_prev;

	pg_atomic_fetch_add_u64(&pps_shared->bpf_forks_total, pps_wbpf_delta(cur->forks, prev->forks));
	pg_atomic_fetch_add_u64(&pps_shared->bpf_reaps_total, pps_wbpf_delta(cur->reaps, prev->reaps));
	for (int i = 0; i < PPS_BPF_NCHILD_TYPES; i++)
	{
		pg_atomic_fetch_add_u64(&pps_shared->bpf_exits_total[i],
								pps_wbpf_delta(cur->exits[i], prev->exits[i]));
		pg_atomic_fetch_add_u64(&pps_shared->bpf_exits_unseen_total[i],
								pps_wbpf_delta(cur->exits_unseen_fork[i], prev->exits_unseen_fork[i]));
		pg_atomic_fetch_add_u64(&pps_shared->bpf_abnormal_total[i],
								pps_wbpf_delta(cur->exits_abnormal[i], prev->exits_abnormal[i]));
		pg_atomic_fetch_add_u64(&pps_shared->bpf_signaled_total[i],
								pps_wbpf_delta(cur->exits_signaled[i], prev->exits_signaled[i]));
	}
	for (int i = 0; i < PPS_BPF_NCPU_STATES; i++)
		pg_atomic_fetch_add_u64(&pps_shared->bpf_cpu_samples_total[i],
								pps_wbpf_delta(cur->cpu_samples[i], prev->cpu_samples[i]));
	pg_atomic_fetch_add_u64(&pps_shared->bpf_server_samples_total,
							pps_wbpf_delta(cur->server_samples, prev->server_samples));
	pg_atomic_fetch_add_u64(&pps_shared->bpf_snapshot_samples_total,
							pps_wbpf_delta(cur->snapshot_samples, prev->snapshot_samples));
	pps_wbpf_fold_hist(&pps_shared->fork_hist, &cur->fork_us, &prev->fork_us);
	pps_wbpf_fold_hist(&pps_shared->reap_hist, &cur->reap_us, &prev->reap_us);
	pps_wbpf_fold_hist(&pps_shared->lifetime_hist, &cur->lifetime_us, &prev->lifetime_us);
	memcpy(&pps_wbpf_prev, cur, sizeof(*cur));
}

static double
pps_wbpf_hist_avg_seconds(const struct pps_bpf_hist *cur, const struct pps_bpf_hist *prev)
{
	uint64		n = 0;

	for (int k = 0; k < PPS_BPF_HIST_BUCKETS; k++)
		n += pps_wbpf_delta(cur->bucket[k], prev->bucket[k]);
	if (n == 0)
		return get_float8_nan();
	return pps_wbpf_delta(cur->sum_ns, prev->sum_ns) / 1e9 / n;
}

static uint64
pps_wbpf_sum(const __u64 *v, int n)
{
	uint64		total = 0;

	for (int i = 0; i < n; i++)
		total += v[i];
	return total;
}

/* The server's on-CPU samples over the interval, and the share in snapshots. */
static void
pps_wbpf_sample_snapshot_share(PpsSample *s, const struct pps_bpf_stats *cur,
							   const struct pps_bpf_stats *prev)
{
	uint64		server;

	if (!pps_bpf_sampling())
		return;
	server = pps_wbpf_delta(cur->server_samples, prev->server_samples);
	s->server_oncpu_samples = (int32) Min(server, PG_INT32_MAX);
	if (server > 0 && pps_bpf_counts_snapshot())
		s->snapshot_cpu_share_pct = 100.0 *
			pps_wbpf_delta(cur->snapshot_samples, prev->snapshot_samples) / server;
}

void
pps_wbpf_sample(PpsSample *s, double seconds)
{
	struct pps_bpf_stats cur;
	struct pps_bpf_stats prev;
	sigset_t	quit;
	sigset_t	old;
	uint64		exits;
	uint64		samples = 0;

	if (!pps_bpf_active() || !pps_bpf_read(&cur))
		return;

	prev = pps_wbpf_prev;
	sigemptyset(&quit);
	sigaddset(&quit, SIGQUIT);
	sigprocmask(SIG_BLOCK, &quit, &old);
	pps_wbpf_fold(&cur);
	sigprocmask(SIG_SETMASK, &old, NULL);

	s->valid |= PPS_SRC_BIT(PPS_SRC_EBPF);

	/*
	 * Exited, minus reaped (those whose exit predates the attach excluded).
	 * Fork and reap times come from the syscall programs only: without them
	 * those stay NULL.
	 */
	exits = pps_wbpf_sum(cur.exits, PPS_BPF_NCHILD_TYPES);
	s->zombies = (int32) Max((int64) (exits + pps_wbpf_sum(cur.exits_unseen_fork, PPS_BPF_NCHILD_TYPES)) -
							 (int64) (cur.reaps - cur.reaps_unmatched), 0);
	if (s->has_rates)
	{
		s->forks_per_s = pps_wbpf_delta(cur.forks, prev.forks) / seconds;
		s->exits_per_s = pps_wbpf_delta(exits, pps_wbpf_sum(prev.exits, PPS_BPF_NCHILD_TYPES)) / seconds;
		s->abnormal_exits_per_s =
			pps_wbpf_delta(pps_wbpf_sum(cur.exits_abnormal, PPS_BPF_NCHILD_TYPES),
						   pps_wbpf_sum(prev.exits_abnormal, PPS_BPF_NCHILD_TYPES)) / seconds;
		s->reaps_per_s = pps_wbpf_delta(cur.reaps, prev.reaps) / seconds;
		if (pps_bpf_syscalls())
		{
			s->fork_avg_seconds = pps_wbpf_hist_avg_seconds(&cur.fork_us, &prev.fork_us);
			s->reap_latency_avg_seconds = pps_wbpf_hist_avg_seconds(&cur.reap_us, &prev.reap_us);
		}
		for (int i = 0; i < PPS_BPF_NCPU_STATES; i++)
			samples += pps_wbpf_delta(cur.cpu_samples[i], prev.cpu_samples[i]);
		for (int i = 0; i < PPS_BPF_NCPU_STATES; i++)
			s->cpu_share_pct[i] = samples == 0 ? get_float8_nan() :
				100.0 * pps_wbpf_delta(cur.cpu_samples[i], prev.cpu_samples[i]) / samples;
		pps_wbpf_sample_snapshot_share(s, &cur, &prev);
	}
	pps_shmem_sources_set(PPS_SRC_EBPF, true, "%s", pps_wbpf_status);
}

/*
 * The sampler's own exit, as the exit program would have counted it: a
 * background worker, abnormal when the exit code is not 0.  Atomic adds
 * only: also called from the SIGQUIT handler.
 */
void
pps_wbpf_own_exit(int code)
{
	if (!pps_wbpf_own_fork_counted)
		return;
	pps_wbpf_own_fork_counted = false;
	pg_atomic_fetch_add_u64(&pps_shared->bpf_exits_total[PPS_BPF_CHILD_BACKGROUND_WORKER], 1);
	if (code != 0)
		pg_atomic_fetch_add_u64(&pps_shared->bpf_abnormal_total[PPS_BPF_CHILD_BACKGROUND_WORKER], 1);
}

/* SIGQUIT: the postmaster is about to reinitialize shared memory. */
static void
pps_wbpf_quit_handler(SIGNAL_ARGS)
{
	struct pps_bpf_stats cur;

	if (pps_bpf_active() && pps_bpf_read(&cur))
		pps_wbpf_fold(&cur);
	pps_wbpf_own_exit(2);
	_exit(2);
}

void
pps_wbpf_install_quit_handler(void)
{
	pqsignal(SIGQUIT, pps_wbpf_quit_handler);
}
