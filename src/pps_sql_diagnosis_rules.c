/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis_rules.c
 *	  Every finding of the diagnosis: when it holds in a sample, what it
 *	  says, what to change.  The thresholds are listed once, in
 *	  pps_thresholds[]: pg_postmaster_stats_diagnosis_rules shows that
 *	  table and a test checks docs/diagnosis.md against it.
 *
 * A rule reads one sample and never a source the sample says did not
 * answer (its bit in "valid" is clear), so a missing source makes a
 * finding silent, never wrong; source_inactive says what is missing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "pps_guc.h"
#include "pps_sql_diagnosis.h"

/* settings an operator may reasonably set otherwise (pg_postmaster_stats.diagnosis_*) */
int			pps_diag_busy_pct = 90;
int			pps_diag_setup_ms = 100;
int			pps_diag_headroom_pct = 10;
int			pps_diag_churn_per_s = 20;

/* constants: documented in docs/diagnosis.md, checked there by 050_diagnosis_rules */
static const double starved_wait_pct = 50;	/* waiting for a CPU, % of the interval */
static const double idle_busy_pct = 50; /* "not busy" for slow_authentication */
static const double throttled_pct = 5;	/* CFS periods throttled, % */
static const double churn_lifetime_s = 1;	/* estimated mean session lifetime */
static const double parallel_share_pct = 30;	/* of the postmaster's forks */
static const double parallel_min_per_s = 5; /* workers launched per second */
static const double snapshot_factor = 4;	/* snapshot_ns over its baseline */
/*
 * Keeps a tiny baseline's noise from counting as growth.  Not higher: 500
 * idle connections took the probe from 40 to 230-270 ns on one machine
 * (105 to 742 ns on another), several-fold growth either way.
 */
static const double snapshot_floor_ns = 150;
static const double snapshot_procs_factor = 2;	/* proc array over its baseline */
static const double replay_headroom_max = 1;
static const double pagetable_big_bytes = 4.0 * 1024 * 1024;
static const double fork_slow_seconds = 0.005;

#define VALID(s, src) (((s)->valid & PPS_SRC_BIT(src)) != 0)
#define RATES(s, src) (VALID(s, src) && (s)->has_rates)

const PpsThreshold pps_thresholds[] = {
	{"postmaster_saturated", "busy_pct", "% of the interval", "pg_postmaster_stats.diagnosis_busy_pct",
	 NULL, &pps_diag_busy_pct,
	"postmaster_cpu_pct + postmaster_cpu_wait_pct >= busy_pct, postmaster_cpu_pct >= postmaster_cpu_wait_pct, while connections arrive or queue"},
	{"postmaster_saturated", "fork_slow_seconds", "s", NULL, &fork_slow_seconds, NULL,
	"the remedy names huge pages when fork_avg_seconds >= fork_slow_seconds (eBPF)"},
	{"postmaster_saturated", "pagetable_big_bytes", "bytes", NULL, &pagetable_big_bytes, NULL,
	"without eBPF's fork time, the remedy names huge pages when postmaster_pagetable_bytes >= pagetable_big_bytes"},
	{"postmaster_cpu_starved", "starved_wait_pct", "% of the interval", NULL, &starved_wait_pct, NULL,
	"postmaster_cpu_wait_pct >= starved_wait_pct and above postmaster_cpu_pct, while connections arrive or queue"},
	{"cpu_throttled", "throttled_pct", "% of CFS periods", NULL, &throttled_pct, NULL,
	"cgroup_throttled_periods_pct >= throttled_pct"},
	{"accept_backlog", NULL, NULL, NULL, NULL, NULL,
	"accept_queue_depth > 0 in 2 successive samples or more"},
	{"listen_overflow", NULL, NULL, NULL, NULL, NULL,
	"listen_drops_per_s > 0"},
	{"connection_churn", "churn_per_s", "connections/s", "pg_postmaster_stats.diagnosis_churn_per_s",
	 NULL, &pps_diag_churn_per_s,
	"connections_per_s >= churn_per_s and client_backends / connections_per_s < churn_lifetime_s"},
	{"connection_churn", "churn_lifetime_s", "s", NULL, &churn_lifetime_s, NULL,
	"the mean session lifetime, estimated as client_backends / connections_per_s (Little's law)"},
	{"parallel_worker_churn", "parallel_share_pct", "% of forks", NULL, &parallel_share_pct, NULL,
	"parallel_workers_launched_per_s >= parallel_min_per_s and >= parallel_share_pct of forks_per_s (without eBPF: of connections_per_s + parallel_workers_launched_per_s), or parallel_workers_planned_per_s > parallel_workers_launched_per_s"},
	{"parallel_worker_churn", "parallel_min_per_s", "workers/s", NULL, &parallel_min_per_s, NULL,
	"see parallel_share_pct"},
	{"bgworker_slots_exhausted", NULL, NULL, NULL, NULL, NULL,
	"bgworker_slots_in_use >= max_worker_processes"},
	{"slow_authentication", "setup_ms", "ms", "pg_postmaster_stats.diagnosis_setup_ms",
	 NULL, &pps_diag_setup_ms,
	"connection_setup_p99_seconds >= setup_ms while postmaster_cpu_pct + postmaster_cpu_wait_pct < idle_busy_pct"},
	{"slow_authentication", "idle_busy_pct", "% of the interval", NULL, &idle_busy_pct, NULL,
	"see setup_ms"},
	{"snapshot_cost_high", "snapshot_factor", "times", NULL, &snapshot_factor, NULL,
	"snapshot_ns >= snapshot_factor x the history's lowest snapshot_ns, snapshot_ns >= snapshot_floor_ns, snapshot_procs >= snapshot_procs_factor x snapshot_procs of that sample"},
	{"snapshot_cost_high", "snapshot_floor_ns", "ns", NULL, &snapshot_floor_ns, NULL,
	"see snapshot_factor"},
	{"snapshot_cost_high", "snapshot_procs_factor", "times", NULL, &snapshot_procs_factor, NULL,
	"see snapshot_factor"},
	{"subtransaction_overflow", NULL, NULL, NULL, NULL, NULL,
	"snapshot_suboverflowed"},
	{"replay_falling_behind", "replay_headroom_max", "ratio", NULL, &replay_headroom_max, NULL,
	"pg_postmaster_stats_replay.state = falling_behind (the backlog grows) and replay_headroom < replay_headroom_max, in 3 successive samples or more"},
	{"replay_paused", NULL, NULL, NULL, NULL, NULL,
	"pg_postmaster_stats_replay.state = paused"},
	{"limit_near", "headroom_pct", "%", "pg_postmaster_stats.diagnosis_headroom_pct",
	 NULL, &pps_diag_headroom_pct,
	"limits_min_headroom_pct < headroom_pct"},
	{"source_inactive", NULL, NULL, NULL, NULL, NULL,
	"a source the findings need did not answer"},
};
const int	pps_nthresholds = lengthof(pps_thresholds);

double
pps_threshold_value(const PpsThreshold *t)
{
	if (t->value_f)
		return *t->value_f;
	if (t->value_i)
		return (double) *t->value_i;
	return get_float8_nan();
}

const char *
pps_severity_name(PpsSeverity s)
{
	switch (s)
	{
		case PPS_SEV_CRITICAL:
			return "critical";
		case PPS_SEV_WARNING:
			return "warning";
		default:
			return "info";
	}
}

/* ---- helpers ---- */

static double
pm_busy(const PpsSample *s)
{
	return s->pm_cpu_pct + s->pm_cpu_wait_pct;
}

/* connections arrive or wait: the postmaster has work it must do serially */
static bool
pm_has_work(const PpsSample *s)
{
	return (RATES(s, PPS_SRC_CONNSETUP) && s->connections_per_s > 0) ||
		(VALID(s, PPS_SRC_ACCEPT) && s->accept_queue_depth > 0) ||
		(RATES(s, PPS_SRC_EBPF) && s->forks_per_s > 0);
}

static double
field_d(const PpsSample *s, size_t offset)
{
	return *(const double *) ((const char *) s + offset);
}

double
pps_held_avg(const PpsDiagHeld *h, size_t offset)
{
	double		sum = 0;
	int			n = 0;

	for (int i = 0; i < h->n; i++)
	{
		double		v = field_d(h->samples[i], offset);

		if (!isnan(v))
		{
			sum += v;
			n++;
		}
	}
	return n > 0 ? sum / n : get_float8_nan();
}

double
pps_held_max(const PpsDiagHeld *h, size_t offset)
{
	double		m = get_float8_nan();

	for (int i = 0; i < h->n; i++)
	{
		double		v = field_d(h->samples[i], offset);

		if (!isnan(v) && (isnan(m) || v > m))
			m = v;
	}
	return m;
}

int32
pps_held_max_i32(const PpsDiagHeld *h, size_t offset)
{
	int32		m = -1;

	for (int i = 0; i < h->n; i++)
	{
		int32		v = *(const int32 *) ((const char *) h->samples[i] + offset);

		m = Max(m, v);
	}
	return m;
}

static int64
held_max_i64(const PpsDiagHeld *h, size_t offset)
{
	int64		m = -1;

	for (int i = 0; i < h->n; i++)
		m = Max(m, *(const int64 *) ((const char *) h->samples[i] + offset));
	return m;
}

/* JSON members: numbers with enough digits, NaN as null */
void
pps_ev_num(StringInfo ev, const char *key, double v)
{
	if (ev->len > 0)
		appendStringInfoString(ev, ", ");
	if (isnan(v) || isinf(v))
		appendStringInfo(ev, "\"%s\": null", key);
	else
		appendStringInfo(ev, "\"%s\": %.6g", key, v);
}

void
pps_ev_text(StringInfo ev, const char *key, const char *v)
{
	if (ev->len > 0)
		appendStringInfoString(ev, ", ");
	appendStringInfo(ev, "\"%s\": ", key);
	escape_json(ev, v);
}

#define HAVG(h, f) pps_held_avg(h, offsetof(PpsSample, f))
#define HMAX(h, f) pps_held_max(h, offsetof(PpsSample, f))
#define MAXI(h, f) pps_held_max_i32(h, offsetof(PpsSample, f))

/* "N s of the last M s": the held samples' time against the window */
static void
held_span(const PpsDiagHeld *h, StringInfo out)
{
	double		held = 0;

	for (int i = 0; i < h->n; i++)
		held += h->samples[i]->interval_seconds;
	appendStringInfo(out, "%.0f s of the last %.0f s", held, h->window_seconds);
}

/* ---- postmaster_saturated, postmaster_cpu_starved ---- */

static bool
holds_saturated(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return RATES(s, PPS_SRC_POSTMASTER) &&
		pm_busy(s) >= pps_diag_busy_pct &&
		s->pm_cpu_pct >= s->pm_cpu_wait_pct && pm_has_work(s);
}

static bool
holds_starved(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return RATES(s, PPS_SRC_POSTMASTER) &&
		s->pm_cpu_wait_pct >= starved_wait_pct &&
		s->pm_cpu_wait_pct > s->pm_cpu_pct && pm_has_work(s);
}

/* the figures both postmaster findings quote */
static void
describe_postmaster_load(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		cpu = HAVG(h, pm_cpu_pct);
	double		wait = HAVG(h, pm_cpu_wait_pct);
	int32		queue = MAXI(h, accept_queue_depth);
	double		conn = HAVG(h, connections_per_s);
	double		forks = HAVG(h, forks_per_s);
	double		fork_s = HAVG(h, fork_avg_seconds);
	double		launched = HAVG(h, parallel_launched_per_s);
	int64		pte = held_max_i64(h, offsetof(PpsSample, pm_pagetable_bytes));

	appendStringInfo(&out->summary,
					 "the postmaster was on a CPU %.0f%% and waiting for one %.0f%% of ",
					 cpu, wait);
	held_span(h, &out->summary);
	appendStringInfo(&out->summary, "; %.0f connections/s", isnan(conn) ? 0 : conn);
	if (!isnan(forks))
		appendStringInfo(&out->summary, ", %.0f forks/s", forks);
	if (!isnan(fork_s))
		appendStringInfo(&out->summary, " of %.1f ms each", fork_s * 1000);
	if (queue >= 0)
		appendStringInfo(&out->summary, "; %d connections waited in the accept queue at peak", queue);

	pps_ev_num(&out->evidence, "postmaster_cpu_pct", cpu);
	pps_ev_num(&out->evidence, "postmaster_cpu_wait_pct", wait);
	pps_ev_num(&out->evidence, "accept_queue_depth", queue);
	pps_ev_num(&out->evidence, "connections_per_s", conn);
	pps_ev_num(&out->evidence, "forks_per_s", forks);
	pps_ev_num(&out->evidence, "fork_avg_seconds", fork_s);
	pps_ev_num(&out->evidence, "parallel_workers_launched_per_s", launched);
	pps_ev_num(&out->evidence, "postmaster_pagetable_bytes", (double) pte);

	appendStringInfoString(&out->remedy,
						   "Fewer, longer-lived connections: a pooler (PgBouncer, pool_mode = transaction) in front of the server");
	/*
	 * Slow forks are page-table copies: huge pages make them few.  The fork
	 * time says it best (transparent huge pages keep VmPTE as it was but
	 * stop fork from copying it); without eBPF, the page tables' size.
	 */
	if (isnan(fork_s) ? pte >= pagetable_big_bytes : fork_s >= fork_slow_seconds)
		appendStringInfo(&out->remedy,
						 "; forks are slow because each copies the postmaster's page tables (%.1f MiB): huge_pages = on for shared_buffers (vm.nr_hugepages), and transparent huge pages (madvise) for other large mappings of the postmaster",
						 pte / 1048576.0);
	if (!isnan(launched) && launched >= parallel_min_per_s)
		appendStringInfo(&out->remedy,
						 "; %.0f parallel workers/s are forked too: lower max_parallel_workers_per_gather or raise parallel_setup_cost",
						 launched);
}

static void
describe_saturated(const PpsDiagHeld *h, PpsDiagText *out)
{
	describe_postmaster_load(h, out);
	appendStringInfoString(&out->remedy,
						   ". The postmaster's loop is serial: more CPUs do not help it");
}

static void
describe_starved(const PpsDiagHeld *h, PpsDiagText *out)
{
	describe_postmaster_load(h, out);
	appendStringInfoString(&out->remedy,
						   ". The postmaster waits for a CPU behind the backends it starts: give the server more CPUs than busy backends, or keep other work off its CPUs; raising the postmaster's priority (renice) lets it run first");
}

/* ---- cpu_throttled ---- */

static bool
holds_throttled(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return RATES(s, PPS_SRC_CGROUP_CPU) && !isnan(s->cgroup_throttled_periods_pct) &&
		s->cgroup_throttled_periods_pct >= throttled_pct;
}

static void
describe_throttled(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		limit = HAVG(h, cgroup_cpu_limit_cores);
	double		pct = HAVG(h, cgroup_throttled_periods_pct);
	double		lost = HAVG(h, cgroup_throttled_seconds_per_s);

	appendStringInfo(&out->summary,
					 "the server's cgroup, limited to %.2f CPU, was throttled in %.0f%% of its periods, losing %.2f s of CPU time per second, during ",
					 limit, pct, lost);
	held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "cgroup_cpu_limit_cores", limit);
	pps_ev_num(&out->evidence, "cgroup_throttled_periods_pct", pct);
	pps_ev_num(&out->evidence, "cgroup_throttled_seconds_per_s", lost);
	pps_ev_num(&out->evidence, "postmaster_cpu_pct", HAVG(h, pm_cpu_pct));
	appendStringInfo(&out->remedy,
					 "Every process of the server, the postmaster included, stops until the next period when the quota is used up: raise the CPU limit (the container's limit, CPUQuota= of the service, cpu.max or cpu.cfs_quota_us; now %.2f CPU) or lower the load's parallelism (max_parallel_workers_per_gather, fewer server connections behind a pooler) to fit it",
					 limit);
}

/* ---- accept_backlog, listen_overflow ---- */

static bool
holds_accept_backlog(const PpsDiagContext *c)
{
	return VALID(c->s, PPS_SRC_ACCEPT) && c->s->accept_queue_depth > 0;
}

static void
describe_accept_backlog(const PpsDiagHeld *h, PpsDiagText *out)
{
	int32		peak = MAXI(h, accept_queue_depth);
	int32		max = MAXI(h, accept_queue_max);
	double		busy = HAVG(h, pm_cpu_pct) + HAVG(h, pm_cpu_wait_pct);
	double		conn = HAVG(h, connections_per_s);
	int			stalled = 0;

	/* samples where clients waited and the postmaster accepted none */
	for (int i = 0; i < h->n; i++)
		if (h->samples[i]->has_rates && h->samples[i]->connections_per_s == 0)
			stalled++;

	appendStringInfo(&out->summary,
					 "up to %d connections (of a queue of %d) waited for the postmaster to accept them during ",
					 peak, max);
	held_span(h, &out->summary);
	if (!isnan(busy))
		appendStringInfo(&out->summary, "; the postmaster was on or waiting for a CPU %.0f%% of that time", busy);
	pps_ev_num(&out->evidence, "accept_queue_depth", peak);
	pps_ev_num(&out->evidence, "accept_queue_max", max);
	pps_ev_num(&out->evidence, "postmaster_cpu_pct", HAVG(h, pm_cpu_pct));
	pps_ev_num(&out->evidence, "postmaster_cpu_wait_pct", HAVG(h, pm_cpu_wait_pct));
	pps_ev_num(&out->evidence, "connections_per_s", conn);

	/*
	 * A postmaster that accepted connections in every one of these samples
	 * is neither stopped nor blocked: under a storm, a connection arriving
	 * just before a sample is the arrival rate showing, whatever the CPU
	 * figures.
	 */
	if (!isnan(busy) && busy >= pps_diag_busy_pct)
		appendStringInfoString(&out->remedy,
							   "The postmaster is busy: see postmaster_saturated / postmaster_cpu_starved (a pooler, huge pages)");
	else if (stalled == 0 && !isnan(conn) && conn > 0)
		appendStringInfo(&out->remedy,
						 "The postmaster accepted %.0f connections/s meanwhile, not as fast as they arrived (it waited for a CPU %.0f%% of the time): fewer new connections (a pooler); see postmaster_saturated / postmaster_cpu_starved when it is busy",
						 conn, HAVG(h, pm_cpu_wait_pct));
	else if (stalled > 0)
		appendStringInfoString(&out->remedy,
							   "The postmaster accepted nothing while clients waited: check that it is not stopped or blocked (its state in ps, /proc/<pid>/stack); clients already wait for the authentication request");
	else
		appendStringInfoString(&out->remedy,
							   "Connections arrive in bursts faster than the postmaster accepts them; a pooler in front smooths the bursts, and net.core.somaxconn bounds how many can wait");
}

static bool
holds_listen_overflow(const PpsDiagContext *c)
{
	return RATES(c->s, PPS_SRC_ACCEPT) && c->s->listen_drops_per_s > 0;
}

static void
describe_listen_overflow(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		drops = 0;
	int32		max = MAXI(h, accept_queue_max);

	for (int i = 0; i < h->n; i++)
		drops += h->samples[i]->listen_drops_per_s * h->samples[i]->interval_seconds;
	appendStringInfo(&out->summary,
					 "the kernel refused %.0f connections because the listen queue (%d) was full, during ",
					 drops, max);
	held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "listen_drops_per_s", HAVG(h, listen_drops_per_s));
	pps_ev_num(&out->evidence, "accept_queue_max", max);
	appendStringInfoString(&out->remedy,
						   "Clients got connection errors or retried after a timeout. The queue is min(2 x MaxBackends, 10000) capped by net.core.somaxconn: raise net.core.somaxconn; and make the postmaster accept faster (see postmaster_saturated)");
}

/* ---- connection_churn ---- */

static double
lifetime_estimate(const PpsSample *s)
{
	if (!VALID(s, PPS_SRC_CHILDREN) || s->connections_per_s <= 0)
		return get_float8_nan();
	return s->children_by_type[B_BACKEND] / s->connections_per_s;
}

static bool
holds_churn(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;
	double		life;

	if (!RATES(s, PPS_SRC_CONNSETUP) || s->connections_per_s < pps_diag_churn_per_s)
		return false;
	life = lifetime_estimate(s);
	return isnan(life) || life < churn_lifetime_s;
}

static void
describe_churn(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		rate = HAVG(h, connections_per_s);
	double		life_sum = 0;
	int			life_n = 0;
	int			peak_backends = 0;
	double		life;

	for (int i = 0; i < h->n; i++)
	{
		double		l = lifetime_estimate(h->samples[i]);

		if (!isnan(l))
		{
			life_sum += l;
			life_n++;
		}
		if (VALID(h->samples[i], PPS_SRC_CHILDREN))
			peak_backends = Max(peak_backends, h->samples[i]->children_by_type[B_BACKEND]);
	}
	life = life_n > 0 ? life_sum / life_n : get_float8_nan();

	appendStringInfo(&out->summary, "%.0f connections/s during ", rate);
	held_span(h, &out->summary);
	if (!isnan(life))
		appendStringInfo(&out->summary, ", living %.0f ms on average (%d client backends at peak)",
						 life * 1000, peak_backends);
	pps_ev_num(&out->evidence, "connections_per_s", rate);
	pps_ev_num(&out->evidence, "session_seconds_avg", life);
	pps_ev_num(&out->evidence, "client_backends", peak_backends);
	pps_ev_num(&out->evidence, "connection_setup_avg_seconds", HAVG(h, conn_setup_avg_seconds));
	pps_diag_top_clients(&out->summary, &out->evidence, 3);
	appendStringInfo(&out->remedy,
					 "Every connection costs a fork, an authentication and a backend start-up: a pooler (PgBouncer, pool_mode = transaction) with default_pool_size about %d (the client backends busy at peak) serves the same load with that many server connections; or make the application keep its connections",
					 Max(peak_backends, 1));
}

/* ---- parallel_worker_churn, bgworker_slots_exhausted ---- */

static bool
holds_parallel_churn(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;
	double		base;

	if (!RATES(s, PPS_SRC_PARALLEL))
		return false;
	if (s->parallel_planned_per_s > s->parallel_launched_per_s)
		return true;
	if (s->parallel_launched_per_s < parallel_min_per_s)
		return false;
	if (RATES(s, PPS_SRC_EBPF) && s->forks_per_s > 0)
		base = s->forks_per_s;
	else
		base = s->parallel_launched_per_s +
			(RATES(s, PPS_SRC_CONNSETUP) ? s->connections_per_s : 0);
	return base > 0 && s->parallel_launched_per_s * 100 >= parallel_share_pct * base;
}

static void
describe_parallel_churn(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		launched = HAVG(h, parallel_launched_per_s);
	double		planned = HAVG(h, parallel_planned_per_s);
	double		forks = HAVG(h, forks_per_s);

	appendStringInfo(&out->summary,
					 "%.0f parallel workers/s launched of %.0f/s planned during ",
					 launched, planned);
	held_span(h, &out->summary);
	if (!isnan(forks) && forks > 0)
		appendStringInfo(&out->summary, ": %.0f%% of the postmaster's %.0f forks/s",
						 100 * launched / forks, forks);
	pps_ev_num(&out->evidence, "parallel_workers_launched_per_s", launched);
	pps_ev_num(&out->evidence, "parallel_workers_planned_per_s", planned);
	pps_ev_num(&out->evidence, "forks_per_s", forks);
	pps_ev_num(&out->evidence, "connections_per_s", HAVG(h, connections_per_s));
	pps_diag_top_parallel(&out->summary, &out->evidence, 3);
	appendStringInfoString(&out->remedy,
						   "Each parallel worker is a fork of the postmaster and a slot of max_worker_processes: for short queries raise parallel_setup_cost or lower max_parallel_workers_per_gather");
	if (planned > launched)
		appendStringInfoString(&out->remedy,
							   "; queries get fewer workers than planned: raise max_parallel_workers and max_worker_processes (restart) if the CPUs allow it");
}

static bool
holds_bgw_exhausted(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return VALID(s, PPS_SRC_BGWORKERS) && s->bgw_slots_total > 0 &&
		s->bgw_slots_in_use >= s->bgw_slots_total;
}

static void
describe_bgw_exhausted(const PpsDiagHeld *h, PpsDiagText *out)
{
	int32		total = MAXI(h, bgw_slots_total);

	appendStringInfo(&out->summary,
					 "all %d background-worker slots (max_worker_processes) were in use during ", total);
	held_span(h, &out->summary);
	appendStringInfo(&out->summary, "; %d registrations waited to start at peak",
					 Max(MAXI(h, bgw_not_started), 0));
	pps_ev_num(&out->evidence, "bgworker_slots_in_use", MAXI(h, bgw_slots_in_use));
	pps_ev_num(&out->evidence, "bgworker_slots_total", total);
	pps_ev_num(&out->evidence, "bgworker_slots_not_started", MAXI(h, bgw_not_started));
	pps_ev_num(&out->evidence, "parallel_workers_active", MAXI(h, bgw_parallel_active));
	appendStringInfo(&out->remedy,
					 "Parallel queries run with fewer workers and extensions cannot start theirs: raise max_worker_processes (now %d; restart), and keep max_parallel_workers below it",
					 total);
}

/* ---- slow_authentication ---- */

static bool
holds_slow_auth(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	if (!RATES(s, PPS_SRC_CONNSETUP) || isnan(s->conn_setup_p99_seconds) ||
		s->conn_setup_p99_seconds * 1000 < pps_diag_setup_ms)
		return false;
	return !RATES(s, PPS_SRC_POSTMASTER) || pm_busy(s) < idle_busy_pct;
}

static void
describe_slow_auth(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		p99 = HMAX(h, conn_setup_p99_seconds);
	double		avg = HAVG(h, conn_setup_avg_seconds);
	double		fail = HAVG(h, auth_failures_per_s);

	appendStringInfo(&out->summary,
					 "connection setup (fork to authenticated) took %.0f ms on average, p99 up to %.0f ms, during ",
					 avg * 1000, p99 * 1000);
	held_span(h, &out->summary);
	appendStringInfo(&out->summary, ", while the postmaster was on or waiting for a CPU only %.0f%% of the time",
					 HAVG(h, pm_cpu_pct) + HAVG(h, pm_cpu_wait_pct));
	pps_ev_num(&out->evidence, "connection_setup_avg_seconds", avg);
	pps_ev_num(&out->evidence, "connection_setup_p99_seconds", p99);
	pps_ev_num(&out->evidence, "auth_failures_per_s", fail);
	pps_ev_num(&out->evidence, "postmaster_cpu_pct", HAVG(h, pm_cpu_pct));
	appendStringInfoString(&out->remedy,
						   "The time is spent in the new backend, not the postmaster: the authentication method (LDAP/RADIUS round trips, scram_iterations), SSL handshakes, slow clients sending their startup packet, or auth_delay");
	if (!isnan(fail) && fail > 0)
		appendStringInfo(&out->remedy, "; %.1f authentications/s failed (pg_hba.conf, passwords)", fail);
}

/* ---- snapshot_cost_high, subtransaction_overflow ---- */

static bool
holds_snapshot_cost(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	if (!VALID(s, PPS_SRC_SNAPSHOT) || isnan(s->snapshot_ns) ||
		isnan(c->snapshot_base_ns) || c->snapshot_base_procs <= 0)
		return false;
	return s->snapshot_ns >= snapshot_factor * c->snapshot_base_ns &&
		s->snapshot_ns >= snapshot_floor_ns &&
		s->snapshot_procs >= snapshot_procs_factor * c->snapshot_base_procs;
}

static void
describe_snapshot_cost(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		ns = HAVG(h, snapshot_ns);
	int32		procs = MAXI(h, snapshot_procs);

	appendStringInfo(&out->summary,
					 "a snapshot cost %.0f ns, %.1f times its baseline of %.0f ns at %d processes, with %d processes in the proc array, during ",
					 ns, ns / h->ctx->snapshot_base_ns, h->ctx->snapshot_base_ns,
					 h->ctx->snapshot_base_procs, procs);
	held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "snapshot_ns", ns);
	pps_ev_num(&out->evidence, "snapshot_ns_baseline", h->ctx->snapshot_base_ns);
	pps_ev_num(&out->evidence, "snapshot_procs", procs);
	pps_ev_num(&out->evidence, "snapshot_procs_baseline", h->ctx->snapshot_base_procs);
	pps_ev_num(&out->evidence, "snapshot_cpu_share_pct", HAVG(h, snapshot_cpu_share_pct));
	appendStringInfoString(&out->remedy,
						   "Every snapshot scans every connection, idle or not: fewer server connections (a pooler) and a max_connections that matches them; idle_session_timeout closes forgotten ones");
}

static bool
holds_subxact(const PpsDiagContext *c)
{
	return VALID(c->s, PPS_SRC_SNAPSHOT) && c->s->snapshot_suboverflowed;
}

static void
describe_subxact(const PpsDiagHeld *h, PpsDiagText *out)
{
	int64		age = held_max_i64(h, offsetof(PpsSample, snapshot_oldest_xid_age));

	appendStringInfoString(&out->summary,
						   "a transaction has more than 64 subtransactions, so every snapshot is overflowed and visibility checks read pg_subtrans, during ");
	held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "snapshot_suboverflowed", 1);
	pps_ev_num(&out->evidence, "snapshot_oldest_xid_age", (double) age);
	appendStringInfoString(&out->remedy,
						   "Find the transaction (pg_stat_activity, backend_xid, the oldest xact_start) that opens more than 64 SAVEPOINTs or exception blocks and commit more often or use fewer of them");
}

/* ---- replay_falling_behind, replay_paused ---- */

static bool
holds_replay_behind(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return VALID(s, PPS_SRC_REPLAY) && s->replay_state == PPS_REPLAY_FALLING_BEHIND &&
		!isnan(s->replay_headroom) && s->replay_headroom < replay_headroom_max;
}

static void
describe_replay_behind(const PpsDiagHeld *h, PpsDiagText *out)
{
	int64		lag = held_max_i64(h, offsetof(PpsSample, replay_lag_bytes));

	appendStringInfo(&out->summary,
					 "replay fell behind during ");
	held_span(h, &out->summary);
	appendStringInfo(&out->summary,
					 ": headroom %.2f, %.0f bytes/s replayed, lag up to %lld bytes, the startup process on a CPU %.0f%%",
					 HAVG(h, replay_headroom), HAVG(h, replay_rate_bytes_per_s),
					 (long long) lag, HAVG(h, startup_cpu_pct));
	pps_ev_num(&out->evidence, "replay_headroom", HAVG(h, replay_headroom));
	pps_ev_num(&out->evidence, "replay_lag_bytes", (double) lag);
	pps_ev_num(&out->evidence, "replay_lag_seconds", HMAX(h, replay_lag_seconds));
	pps_ev_num(&out->evidence, "replay_rate_bytes_per_s", HAVG(h, replay_rate_bytes_per_s));
	pps_ev_num(&out->evidence, "startup_cpu_pct", HAVG(h, startup_cpu_pct));
	appendStringInfoString(&out->remedy,
						   "Replay is one process and cannot catch up at this WAL rate: reduce WAL on the primary (full_page_writes with fewer checkpoints: raise max_wal_size, checkpoint_timeout; wal_compression), keep recovery_prefetch on, and give the standby a faster CPU");
}

static bool
holds_replay_paused(const PpsDiagContext *c)
{
	return VALID(c->s, PPS_SRC_REPLAY) && c->s->replay_state == PPS_REPLAY_PAUSED;
}

static void
describe_replay_paused(const PpsDiagHeld *h, PpsDiagText *out)
{
	int64		lag = held_max_i64(h, offsetof(PpsSample, replay_lag_bytes));

	appendStringInfoString(&out->summary, "WAL replay was paused during ");
	held_span(h, &out->summary);
	appendStringInfo(&out->summary, "; %lld bytes received wait to be replayed", (long long) Max(lag, 0));
	pps_ev_num(&out->evidence, "replay_lag_bytes", (double) lag);
	appendStringInfoString(&out->remedy,
						   "SELECT pg_wal_replay_resume() when the pause is not intended (pg_get_wal_replay_pause_state() says whether it is requested or in effect)");
}

/* ---- limit_near ---- */

static bool
holds_limit_near(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return VALID(s, PPS_SRC_LIMITS) && s->limits_min_index >= 0 &&
		!isnan(s->limits_min_headroom_pct) &&
		s->limits_min_headroom_pct < pps_diag_headroom_pct;
}

static void
describe_limit_near(const PpsDiagHeld *h, PpsDiagText *out)
{
	const PpsSample *last = h->samples[h->n - 1];
	const PpsLimit *l = NULL;
	double		lowest = pps_held_max(h, offsetof(PpsSample, limits_min_headroom_pct));

	/* lowest headroom of the held samples */
	for (int i = 0; i < h->n; i++)
		lowest = Min(lowest, h->samples[i]->limits_min_headroom_pct);
	if (h->limits && last->limits_min_index < h->limits->nlimits)
		l = &h->limits->limits[last->limits_min_index];

	if (l)
	{
		appendStringInfo(&out->summary,
						 "%s: headroom down to %.1f%% (now %.0f of %.0f %s used), during ",
						 l->name, lowest, l->current, l->maximum, l->unit);
		pps_ev_text(&out->evidence, "limits_min_name", l->name);
		pps_ev_num(&out->evidence, "current", l->current);
		pps_ev_num(&out->evidence, "maximum", l->maximum);
		appendStringInfoString(&out->remedy, l->hint);
	}
	else
	{
		appendStringInfo(&out->summary, "a limit had %.1f%% headroom at the lowest, during ", lowest);
		appendStringInfoString(&out->remedy, "pg_postmaster_stats_limits names the limit and what to change");
	}
	held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "limits_min_headroom_pct", lowest);
}

/* ---- source_inactive ---- */

/* the sources the findings read, and what each one's absence hides */
static const struct
{
	PpsSource	src;
	const char *hides;
} needed_sources[] = {
	{PPS_SRC_POSTMASTER, "postmaster_saturated, postmaster_cpu_starved"},
	{PPS_SRC_ACCEPT, "accept_backlog, listen_overflow"},
	{PPS_SRC_CONNSETUP, "connection_churn, slow_authentication"},
	{PPS_SRC_BGWORKERS, "bgworker_slots_exhausted"},
	{PPS_SRC_PARALLEL, "parallel_worker_churn"},
	{PPS_SRC_SNAPSHOT, "snapshot_cost_high, subtransaction_overflow"},
	{PPS_SRC_LIMITS, "limit_near"},
	{PPS_SRC_CGROUP_CPU, "cpu_throttled"},
	{PPS_SRC_EBPF, "exact fork and reap counts, fork latency and the forks share of parallel_worker_churn"},
};

static bool
holds_source_inactive(const PpsDiagContext *c)
{
	for (int i = 0; i < (int) lengthof(needed_sources); i++)
		if (!VALID(c->s, needed_sources[i].src))
			return true;
	return false;
}

static void
describe_source_inactive(const PpsDiagHeld *h, PpsDiagText *out)
{
	const PpsSample *last = h->samples[h->n - 1];
	bool		first = true;

	for (int i = 0; i < (int) lengthof(needed_sources); i++)
	{
		PpsSource	src = needed_sources[i].src;

		if (VALID(last, src))
			continue;
		appendStringInfo(&out->summary, "%s%s is inactive (hides %s)",
						 first ? "" : "; ", pps_shmem_source_name(src), needed_sources[i].hides);
		pps_ev_text(&out->evidence, pps_shmem_source_name(src), h->sources[src].detail);
		appendStringInfo(&out->remedy, "%s%s: %s", first ? "" : "; ",
						 pps_shmem_source_name(src), h->sources[src].detail);
		first = false;
	}
	if (first)
	{
		appendStringInfoString(&out->summary, "a source was inactive during ");
		held_span(h, &out->summary);
		appendStringInfoString(&out->remedy, "pg_postmaster_stats_sources says which and why");
	}
}

/* ---- the list; its order is the order of equal-severity rows ---- */

const PpsFinding pps_findings[] = {
	{"postmaster_saturated", PPS_SEV_CRITICAL, 3,
		"{pg_postmaster_stats_history,pg_postmaster_stats_children}",
	holds_saturated, describe_saturated},
	{"postmaster_cpu_starved", PPS_SEV_CRITICAL, 3,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	holds_starved, describe_starved},
	{"listen_overflow", PPS_SEV_CRITICAL, 1,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	holds_listen_overflow, describe_listen_overflow},
	{"replay_falling_behind", PPS_SEV_CRITICAL, 3,
		"{pg_postmaster_stats_replay,pg_postmaster_stats_history}",
	holds_replay_behind, describe_replay_behind},
	{"cpu_throttled", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	holds_throttled, describe_throttled},
	{"accept_backlog", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	holds_accept_backlog, describe_accept_backlog},
	{"connection_churn", PPS_SEV_WARNING, 3,
		"{pg_postmaster_stats_history,pg_postmaster_stats_clients,pg_postmaster_stats_latency}",
	holds_churn, describe_churn},
	{"parallel_worker_churn", PPS_SEV_WARNING, 3,
		"{pg_postmaster_stats_bgworkers,pg_postmaster_stats_parallel_queries,pg_postmaster_stats_history}",
	holds_parallel_churn, describe_parallel_churn},
	{"bgworker_slots_exhausted", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_bgworkers,pg_stat_activity}",
	holds_bgw_exhausted, describe_bgw_exhausted},
	{"slow_authentication", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_latency,pg_postmaster_stats_history}",
	holds_slow_auth, describe_slow_auth},
	{"snapshot_cost_high", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_snapshot,pg_postmaster_stats_history}",
	holds_snapshot_cost, describe_snapshot_cost},
	{"subtransaction_overflow", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_snapshot,pg_stat_activity}",
	holds_subxact, describe_subxact},
	{"replay_paused", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_replay}",
	holds_replay_paused, describe_replay_paused},
	{"limit_near", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_limits}",
	holds_limit_near, describe_limit_near},
	{"source_inactive", PPS_SEV_INFO, 5,
		"{pg_postmaster_stats_sources}",
	holds_source_inactive, describe_source_inactive},
};
const int	pps_nfindings = lengthof(pps_findings);
