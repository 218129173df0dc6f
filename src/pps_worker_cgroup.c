/*-------------------------------------------------------------------------
 *
 * pps_worker_cgroup.c
 *	  The sampler's side of the cgroup CPU source: the quota in cores, the
 *	  share of enforcement periods the cgroup was throttled in and the
 *	  throttled time per second over the interval, the cgroup's own
 *	  cumulative counters, and what the sources view says.
 *
 * Rates are deltas of the cgroup's counters; they are computed only
 * between two readings of the same cgroup directory (the postmaster moved,
 * or another ancestor's quota became the tightest, starts over) and only
 * while no counter went backwards (the cgroup was removed and created
 * again).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/float.h"

#include "pps_guc.h"
#include "pps_shmem.h"
#include "pps_worker_cgroup.h"
#include "source_cgroup.h"

/* the previous tick's reading, for the rates */
static PpsCgroupCpu prev;
static bool prev_ok = false;

/*
 * Which cgroup, and its quota, are looked up again at most this often (and
 * at once when pg_postmaster_stats.cgroup_cpu_dir changes): on a container
 * platform that is a file per ancestor level, every tick, for a figure that
 * changes when an operator resizes the container.  cpu.stat is read every
 * tick.
 */
#define PPS_CGROUP_RESOLVE_US (5 * 1000 * 1000)
static TimestampTz resolved_at = 0;
static char resolved_guc[MAXPGPATH];

static void
pps_wcgroup_report(const PpsCgroupCpu *c)
{
	char		where[MAXPGPATH + 96];
	char		quota[160];

	if (pps_cgroup_cpu_dir[0] != '\0')
		snprintf(where, sizeof(where), "cgroup v%d %s (pg_postmaster_stats.cgroup_cpu_dir)",
				 c->version, c->dir);
	else
		snprintf(where, sizeof(where), "cgroup v%d %s", c->version, c->dir);
	if (c->limited)
		snprintf(quota, sizeof(quota), "quota %.2f CPU (%lld/%lld us)",
				 (double) c->quota_us / c->period_us,
				 (long long) c->quota_us, (long long) c->period_us);
	else if (pps_cgroup_cpu_dir[0] != '\0')
		strlcpy(quota, "no CPU quota", sizeof(quota));
	else
		snprintf(quota, sizeof(quota), "no CPU quota on it or its %d ancestor(s)",
				 c->levels - 1);
	pps_shmem_sources_set(PPS_SRC_CGROUP_CPU, true, "%s: %s; the cgroup and its quota looked up every %d s, throttling from its cpu.stat every sample",
						  where, quota, PPS_CGROUP_RESOLVE_US / 1000000);
}

/*
 * Called by the sampler every tick: reads the postmaster's CPU cgroup and
 * fills the sample's cgroup columns.
 */
void
pps_wcgroup_sample(PpsSample *s, double seconds)
{
	PpsCgroupCpu c;
	char		err[PPS_DETAIL_LEN];
	bool		ok;

	s->cgroup_cpu_limit_cores = get_float8_nan();
	s->cgroup_throttled_periods_pct = s->cgroup_throttled_seconds_per_s = get_float8_nan();
	s->cgroup_throttled_periods_total = s->cgroup_throttled_ns_total = -1;

	if (prev_ok && s->time - resolved_at < PPS_CGROUP_RESOLVE_US &&
		strcmp(resolved_guc, pps_cgroup_cpu_dir) == 0)
	{
		c = prev;
		ok = pps_cgroup_cpu_read_stat(&c, err, sizeof(err));
	}
	else
	{
		if (pps_cgroup_cpu_dir[0] != '\0')
			ok = pps_cgroup_cpu_read_dir(pps_cgroup_cpu_dir, &c, err, sizeof(err));
		else
			ok = pps_cgroup_cpu_read(PostmasterPid, &c, err, sizeof(err));
		resolved_at = s->time;
		strlcpy(resolved_guc, pps_cgroup_cpu_dir, sizeof(resolved_guc));
	}
	if (!ok)
	{
		pps_shmem_sources_set(PPS_SRC_CGROUP_CPU, false, "%s", err);
		prev_ok = false;
		return;
	}

	s->valid |= PPS_SRC_BIT(PPS_SRC_CGROUP_CPU);
	if (c.limited)
		s->cgroup_cpu_limit_cores = (double) c.quota_us / c.period_us;
	s->cgroup_throttled_periods_total = (int64) c.nr_throttled;
	s->cgroup_throttled_ns_total = (int64) c.throttled_ns;
	if (s->has_rates && prev_ok && strcmp(prev.dir, c.dir) == 0 &&
		c.nr_periods >= prev.nr_periods && c.nr_throttled >= prev.nr_throttled &&
		c.throttled_ns >= prev.throttled_ns)
	{
		uint64		periods = c.nr_periods - prev.nr_periods;

		/* no period elapsed: nothing ran against a quota, nothing was throttled */
		s->cgroup_throttled_periods_pct = periods > 0 ?
			100.0 * (c.nr_throttled - prev.nr_throttled) / periods : 0;
		s->cgroup_throttled_seconds_per_s = (c.throttled_ns - prev.throttled_ns) / 1e9 / seconds;
	}
	pps_wcgroup_report(&c);
	prev = c;
	prev_ok = true;
}
