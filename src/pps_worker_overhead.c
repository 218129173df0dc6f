/*-------------------------------------------------------------------------
 *
 * pps_worker_overhead.c
 *	  The sampler's side of pg_postmaster_stats_overhead: the eBPF
 *	  programs' own accounting, folded into the totals, and the share of a
 *	  core each part took over the last interval.
 *
 * The kernel counts a program's runs and run time only while
 * kernel.bpf_stats_enabled is 1 (then it reads the clock twice per run),
 * and counts from zero for each program it loads; like the programs'
 * event counters, the growth since the previous tick is folded into
 * shared totals, so they survive a new loader run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/float.h"

#include "pps_procfs.h"
#include "pps_shmem_overhead.h"
#include "pps_worker_overhead.h"
#include "source_bpf.h"

static uint64 pps_wovh_prev_runs[PPS_BPF_NPROGS];
static uint64 pps_wovh_prev_ns[PPS_BPF_NPROGS];

/* per-row totals at the previous tick, for the window's rates */
static double pps_wovh_prev_cpu[PPS_OVH_NROWS];
static TimestampTz pps_wovh_prev_time = 0;

/* The programs of a new loader run count from zero. */
void
pps_wovh_bpf_reset(void)
{
	memset(pps_wovh_prev_runs, 0, sizeof(pps_wovh_prev_runs));
	memset(pps_wovh_prev_ns, 0, sizeof(pps_wovh_prev_ns));
}

/* 0 or 1, or -1 when unreadable; one system call on the open file */
static int32
pps_wovh_bpf_stats_enabled(void)
{
	static PpsOpenFile f = PPS_OPEN_FILE_INIT;
	char		buf[8];

	if (pps_read_open_file(&f, "/proc/sys/kernel/bpf_stats_enabled", buf, sizeof(buf)) < 1)
		return -1;
	return buf[0] == '1' ? 1 : (buf[0] == '0' ? 0 : -1);
}

static void
pps_wovh_bpf_fold(void)
{
	PpsOvhCounters *c = &pps_shared->ovh;
	/* by program, whether loaded or not (pps_bpf_prog_stats says) */
	int			n = pps_bpf_prog_count() > 0 ? PPS_BPF_NPROGS : 0;

	for (int i = 0; i < n; i++)
	{
		uint64		runs = 0;
		uint64		ns = 0;

		if (!pps_bpf_prog_stats(i, &runs, &ns))
			continue;
		if (runs >= pps_wovh_prev_runs[i] && ns >= pps_wovh_prev_ns[i])
		{
			pg_atomic_fetch_add_u64(&c->bpf_runs[i], runs - pps_wovh_prev_runs[i]);
			pg_atomic_fetch_add_u64(&c->bpf_ns[i], ns - pps_wovh_prev_ns[i]);
		}
		pps_wovh_prev_runs[i] = runs;
		pps_wovh_prev_ns[i] = ns;
	}
}

/*
 * End of a sampler tick: fold the programs' statistics, then publish each
 * row's share of one core since the previous tick.
 */
void
pps_wovh_tick_end(TimestampTz now, double tick_us)
{
	static PpsOvhRow rows[PPS_OVH_NROWS];
	PpsOvhWindow w;

	pps_wovh_bpf_fold();

	memset(&w, 0, sizeof(w));
	w.time = now;
	w.bpf_nprogs = pps_bpf_prog_count();
	w.bpf_prog_mask = pps_bpf_prog_mask();
	w.bpf_stats_enabled = w.bpf_nprogs > 0 ? pps_wovh_bpf_stats_enabled() : -1;
	w.last_tick_us = tick_us;
	w.seconds = pps_wovh_prev_time != 0 && now > pps_wovh_prev_time ?
		(now - pps_wovh_prev_time) / 1e6 : 0;

	pps_ovh_rows(rows, NULL);
	for (int i = 0; i < PPS_OVH_NROWS; i++)
	{
		double		d = rows[i].cpu_ns - pps_wovh_prev_cpu[i];

		/* after a reset the total restarted from zero */
		if (d < 0)
			d = rows[i].cpu_ns;
		w.pct[i] = w.seconds > 0 ? 100.0 * d / 1e9 / w.seconds : get_float8_nan();
		pps_wovh_prev_cpu[i] = rows[i].cpu_ns;
	}
	pps_wovh_prev_time = now;
	pps_ovh_window_publish(&w);
}
