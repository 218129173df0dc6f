/*-------------------------------------------------------------------------
 *
 * pps_shmem_overhead.c
 *	  The rows of pg_postmaster_stats_overhead, from the cost counters.
 *
 * Each part of the extension adds what it costs to PpsOvhCounters with
 * atomic adds, never a lock: the workers their whole process CPU
 * (getrusage, so the figure agrees with /proc/<pid>/stat) and, per source,
 * the thread CPU around that source's collection; the hooks their call
 * count and the time of one call in 64; the SQL functions their calls and
 * CPU; the sampler the eBPF programs' run counts and run times from the
 * kernel.  The sampler also keeps, under ovh_seq, the share of one core
 * each row took over its last interval.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "utils/float.h"

#include "pps_seqlock.h"
#include "pps_shmem_overhead.h"

static const char *const pps_ovh_prog_names[PPS_BPF_NPROGS] = {
	[PPS_BPF_PROG_SYS_ENTER] = "sys_enter",
	[PPS_BPF_PROG_SYS_EXIT] = "sys_exit",
	[PPS_BPF_PROG_FORK] = "fork",
	[PPS_BPF_PROG_EXIT] = "exit",
	[PPS_BPF_PROG_CPU_SAMPLE] = "cpu_sample",
	[PPS_BPF_PROG_FREE] = "free",
};

/* Why program prog is not loaded, for its row's detail. */
static const char *const pps_ovh_prog_absent[PPS_BPF_NPROGS] = {
	[PPS_BPF_PROG_SYS_ENTER] = "not loaded: pg_postmaster_stats.ebpf_syscalls is off",
	[PPS_BPF_PROG_SYS_EXIT] = "not loaded: pg_postmaster_stats.ebpf_syscalls is off",
	[PPS_BPF_PROG_FORK] = "not loaded",
	[PPS_BPF_PROG_EXIT] = "not loaded",
	[PPS_BPF_PROG_CPU_SAMPLE] = "not loaded: sampling is off or failed (see pg_postmaster_stats_sources)",
	[PPS_BPF_PROG_FREE] = "not loaded: only while pg_postmaster_stats.ebpf_syscalls is off (sys_exit counts the reaps)",
};

const char *
pps_ovh_bpf_prog_name(int prog)
{
	return pps_ovh_prog_names[prog];
}

/*
 * A worker's tick ends: add the process's CPU since the previous call (the
 * first call adds everything since the process started) and count a tick.
 */
void
pps_ovh_worker_tick(pg_atomic_uint64 *ticks, pg_atomic_uint64 *cpu_ns)
{
	static uint64 prev_ns = 0;
	struct rusage ru;
	uint64		now_ns;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return;
	now_ns = ((uint64) ru.ru_utime.tv_sec + (uint64) ru.ru_stime.tv_sec) * 1000000000 +
		((uint64) ru.ru_utime.tv_usec + (uint64) ru.ru_stime.tv_usec) * 1000;
	if (now_ns > prev_ns)
		pg_atomic_fetch_add_u64(cpu_ns, now_ns - prev_ns);
	prev_ns = Max(now_ns, prev_ns);
	pg_atomic_fetch_add_u64(ticks, 1);
}

static PpsOvhRow *
pps_ovh_row(PpsOvhRow *r, const char *component, uint64 calls, double cpu_ns)
{
	strlcpy(r->component, component, sizeof(r->component));
	r->calls = calls;
	r->cpu_ns = cpu_ns;
	r->detail[0] = '\0';
	return r;
}

static void
pps_ovh_hook_row(PpsOvhRow *r, const char *name, PpsOvhHook hook)
{
	PpsOvhCounters *c = &pps_shared->ovh;
	uint64		calls = pg_atomic_read_u64(&c->hook_calls[hook]);
	uint64		timed = pg_atomic_read_u64(&c->hook_timed[hook]);
	uint64		ns = pg_atomic_read_u64(&c->hook_timed_ns[hook]);

	/*
	 * Call n is timed when n % 64 == 0 and stands for calls n .. n + 63:
	 * the time is ns x 64, which only grows, as a _total must (the mean
	 * per call times the count would move back when a cheap call is timed).
	 */
	pps_ovh_row(r, name, calls, (double) ns * PPS_OVH_HOOK_SAMPLE_EVERY);
	snprintf(r->detail, sizeof(r->detail),
			 "exact call count; %s measured on 1 call in %d (%llu timed calls, %.0f ns each), each standing for the %d calls it starts",
			 pps_ovh_hook_cpu_timed(hook) ? "thread CPU time" : "wall time",
			 PPS_OVH_HOOK_SAMPLE_EVERY, (unsigned long long) timed,
			 timed > 0 ? (double) ns / timed : 0.0, PPS_OVH_HOOK_SAMPLE_EVERY);
}

/* Fill the PPS_OVH_NROWS rows; w may be NULL (no detail from the sampler). */
void
pps_ovh_rows(PpsOvhRow *rows, const PpsOvhWindow *w)
{
	PpsOvhCounters *c = &pps_shared->ovh;
	uint64		sticks = pg_atomic_read_u64(&c->sampler_ticks);
	uint64		pticks = pg_atomic_read_u64(&c->probe_ticks);
	uint64		runs = 0;
	uint64		run_ns = 0;
	PpsOvhRow  *r = rows;
	PpsOvhRow  *ebpf;

	pps_ovh_row(r, "sampler", sticks, pg_atomic_read_u64(&c->sampler_cpu_ns));
	snprintf(r->detail, sizeof(r->detail),
			 "sampler worker, whole process CPU (getrusage) added at each tick; calls are ticks; last tick %.0f us of thread CPU; sampler:<source> rows split the ticks by source",
			 w ? w->last_tick_us : 0.0);
	r++;
	for (int i = 0; i < PPS_NUM_SOURCES; i++, r++)
	{
		char		name[48];

		snprintf(name, sizeof(name), "sampler:%s", pps_shmem_source_name((PpsSource) i));
		pps_ovh_row(r, name, sticks, pg_atomic_read_u64(&c->sampler_src_ns[i]));
		strlcpy(r->detail, "thread CPU around this source's collection in each tick (part of sampler)",
				sizeof(r->detail));
	}
	pps_ovh_row(r, "probe", pticks, pg_atomic_read_u64(&c->probe_cpu_ns));
	strlcpy(r->detail, "probe worker, whole process CPU (getrusage) added at each tick; calls are ticks; probe:<part> rows split the ticks",
			sizeof(r->detail));
	r++;
	pps_ovh_row(r++, "probe:snapshot_probe", pticks,
				pg_atomic_read_u64(&c->probe_src_ns[PPS_SRC_SNAPSHOT]));
	strlcpy(r[-1].detail, "thread CPU of the GetSnapshotData() batch and its transaction (part of probe)",
			sizeof(r->detail));
	pps_ovh_row(r++, "probe:limits", pticks,
				pg_atomic_read_u64(&c->probe_src_ns[PPS_SRC_LIMITS]));
	strlcpy(r[-1].detail, "thread CPU of the limits refresh (part of probe)", sizeof(r->detail));

	pps_ovh_hook_row(r++, "auth_hook", PPS_OVH_AUTH_HOOK);
	pps_ovh_hook_row(r++, "executor_end_hook", PPS_OVH_EXECUTOR_END_HOOK);

	ebpf = r++;
	for (int i = 0; i < PPS_BPF_NPROGS; i++, r++)
	{
		char		name[48];
		uint64		n = pg_atomic_read_u64(&c->bpf_runs[i]);
		uint64		ns = pg_atomic_read_u64(&c->bpf_ns[i]);

		snprintf(name, sizeof(name), "ebpf:%s", pps_ovh_prog_names[i]);
		pps_ovh_row(r, name, n, ns);
		if (w != NULL && w->bpf_nprogs > 0 && !(w->bpf_prog_mask & (1u << i)))
			strlcpy(r->detail, pps_ovh_prog_absent[i], sizeof(r->detail));
		else
			strlcpy(r->detail, "the kernel's run count and run time of this program (bpf_prog_info, part of ebpf)",
					sizeof(r->detail));
		runs += n;
		run_ns += ns;
	}
	pps_ovh_row(ebpf, "ebpf", runs, run_ns);
	if (w == NULL || w->bpf_nprogs == 0)
		strlcpy(ebpf->detail, "no eBPF programs loaded (see pg_postmaster_stats_sources)",
				sizeof(ebpf->detail));
	else if (w->bpf_stats_enabled != 1)
		strlcpy(ebpf->detail,
				"kernel statistics are disabled (kernel.bpf_stats_enabled = 0): run counts and times stay 0; enable with: sysctl kernel.bpf_stats_enabled=1 (costs two clock reads per program run)",
				sizeof(ebpf->detail));
	else
		snprintf(ebpf->detail, sizeof(ebpf->detail),
				 "%d programs, the kernel's own accounting (bpf_prog_info run_cnt, run_time_ns, kernel.bpf_stats_enabled = 1); calls are program runs",
				 (int) w->bpf_nprogs);

	pps_ovh_row(r, "sql", pg_atomic_read_u64(&c->sql_calls), pg_atomic_read_u64(&c->sql_ns));
	strlcpy(r->detail, "CPU inside the extension's SQL functions (a scraper's share); the SQL of the views around them is not counted",
			sizeof(r->detail));
	r++;
	Assert(r - rows == PPS_OVH_NROWS);
}

/* Called by the sampler worker only. */
void
pps_ovh_window_publish(const PpsOvhWindow *w)
{
	pps_seqlock_write_begin(&pps_shared->ovh_seq);
	memcpy(&pps_shared->ovh_window, w, sizeof(*w));
	pps_seqlock_write_end(&pps_shared->ovh_seq);
}

bool
pps_ovh_window_read(PpsOvhWindow *out)
{
	uint64		seen = pps_seqlock_read(&pps_shared->ovh_seq, out,
										&pps_shared->ovh_window, sizeof(*out));

	return seen != PG_UINT64_MAX && out->time != 0;
}
