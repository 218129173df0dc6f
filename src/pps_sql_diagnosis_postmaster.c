/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis_postmaster.c
 *	  The findings about the postmaster and what it starts:
 *	  postmaster_saturated, postmaster_cpu_starved, accept_backlog,
 *	  listen_overflow, connection_churn, parallel_worker_churn,
 *	  bgworker_slots_exhausted and slow_authentication.  Each has a rule
 *	  (does it hold in one sample) and a describer (what the held samples
 *	  say, what to change); pps_findings[] in pps_sql_diagnosis_rules.c
 *	  lists them with their thresholds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"

#include "pps_guc.h"
#include "pps_sql_diagnosis_internal.h"

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

/* ---- postmaster_saturated, postmaster_cpu_starved ---- */

bool
pps_holds_saturated(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return RATES(s, PPS_SRC_POSTMASTER) &&
		pm_busy(s) >= pps_diag_busy_pct &&
		s->pm_cpu_pct >= s->pm_cpu_wait_pct && pm_has_work(s);
}

bool
pps_holds_starved(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return RATES(s, PPS_SRC_POSTMASTER) &&
		s->pm_cpu_wait_pct >= pps_diag_starved_wait_pct &&
		s->pm_cpu_wait_pct > s->pm_cpu_pct && pm_has_work(s);
}

/*
 * fork_cpu_avg_seconds over the held samples: their CPU in clone() over
 * their forks (each sample's estimate weighted by its forks)
 */
static double
held_fork_cpu_seconds(const PpsDiagHeld *h)
{
	double		cpu = 0;
	double		forks = 0;

	for (int i = 0; i < h->n; i++)
	{
		double		est = pps_sample_fork_cpu_seconds(h->samples[i]);

		if (isnan(est))
			continue;
		cpu += est * h->samples[i]->forks_per_s;
		forks += h->samples[i]->forks_per_s;
	}
	return forks > 0 ? cpu / forks : get_float8_nan();
}

/* the figures both postmaster findings quote */
static void
describe_postmaster_load(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		cpu = HAVG(h, pm_cpu_pct);
	double		wait = HAVG(h, pm_cpu_wait_pct);
	int32		queue = HMAX_I32(h, accept_queue_depth);
	double		conn = HAVG(h, connections_per_s);
	double		forks = HAVG(h, forks_per_s);
	double		fork_s = HAVG(h, fork_avg_seconds);
	double		fork_cpu_s = held_fork_cpu_seconds(h);
	double		launched = HAVG(h, parallel_launched_per_s);
	int64		pte = HMAX_I64(h, pm_pagetable_bytes);

	appendStringInfo(&out->summary,
					 "the postmaster was on a CPU %.0f%% and waiting for one %.0f%% of ",
					 cpu, wait);
	pps_held_span(h, &out->summary);
	appendStringInfo(&out->summary, "; %.0f connections/s", isnan(conn) ? 0 : conn);
	if (!isnan(forks))
		appendStringInfo(&out->summary, ", %.0f forks/s", forks);
	if (!isnan(fork_s))
		appendStringInfo(&out->summary, " of %.1f ms each", fork_s * 1000);
	else if (!isnan(fork_cpu_s))
		appendStringInfo(&out->summary, " of about %.1f ms of CPU each", fork_cpu_s * 1000);
	if (queue >= 0)
		appendStringInfo(&out->summary, "; %d connections waited in the accept queue at peak", queue);

	pps_ev_num(&out->evidence, "postmaster_cpu_pct", cpu);
	pps_ev_num(&out->evidence, "postmaster_cpu_wait_pct", wait);
	pps_ev_num(&out->evidence, "accept_queue_depth", queue);
	pps_ev_num(&out->evidence, "connections_per_s", conn);
	pps_ev_num(&out->evidence, "forks_per_s", forks);
	pps_ev_num(&out->evidence, "fork_avg_seconds", fork_s);
	pps_ev_num(&out->evidence, "fork_cpu_avg_seconds", fork_cpu_s);
	pps_ev_num(&out->evidence, "parallel_workers_launched_per_s", launched);
	pps_ev_num(&out->evidence, "postmaster_pagetable_bytes", (double) pte);

	appendStringInfoString(&out->remedy,
						   "Fewer, longer-lived connections: a pooler (PgBouncer, pool_mode = transaction) in front of the server");
	/*
	 * Slow forks are page-table copies: huge pages make them few.  The fork
	 * time says it best (transparent huge pages keep VmPTE as it was but
	 * stop fork from copying it), measured (ebpf_syscalls = on) or else
	 * estimated from the on-CPU samples; without eBPF, the page tables'
	 * size.
	 */
	if (isnan(fork_s))
		fork_s = fork_cpu_s;
	if (isnan(fork_s) ? pte >= pps_diag_pagetable_big_bytes : fork_s >= pps_diag_fork_slow_seconds)
		appendStringInfo(&out->remedy,
						 "; forks are slow because each copies the postmaster's page tables (%.1f MiB): huge_pages = on for shared_buffers (vm.nr_hugepages), and transparent huge pages (madvise) for other large mappings of the postmaster",
						 pte / 1048576.0);
	if (!isnan(launched) && launched >= pps_diag_parallel_min_per_s)
		appendStringInfo(&out->remedy,
						 "; %.0f parallel workers/s are forked too: lower max_parallel_workers_per_gather or raise parallel_setup_cost",
						 launched);
}

void
pps_describe_saturated(const PpsDiagHeld *h, PpsDiagText *out)
{
	describe_postmaster_load(h, out);
	appendStringInfoString(&out->remedy,
						   ". The postmaster's loop is serial: more CPUs do not help it");
}

void
pps_describe_starved(const PpsDiagHeld *h, PpsDiagText *out)
{
	describe_postmaster_load(h, out);
	appendStringInfoString(&out->remedy,
						   ". The postmaster waits for a CPU behind the backends it starts: give the server more CPUs than busy backends, or keep other work off its CPUs; raising the postmaster's priority (renice) lets it run first");
}

/* ---- accept_backlog, listen_overflow ---- */

bool
pps_holds_accept_backlog(const PpsDiagContext *c)
{
	return VALID(c->s, PPS_SRC_ACCEPT) && c->s->accept_queue_depth > 0;
}

void
pps_describe_accept_backlog(const PpsDiagHeld *h, PpsDiagText *out)
{
	int32		peak = HMAX_I32(h, accept_queue_depth);
	int32		max = HMAX_I32(h, accept_queue_max);
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
	pps_held_span(h, &out->summary);
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

bool
pps_holds_listen_overflow(const PpsDiagContext *c)
{
	return RATES(c->s, PPS_SRC_ACCEPT) && c->s->listen_drops_per_s > 0;
}

void
pps_describe_listen_overflow(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		drops = 0;
	int32		max = HMAX_I32(h, accept_queue_max);

	for (int i = 0; i < h->n; i++)
		drops += h->samples[i]->listen_drops_per_s * h->samples[i]->interval_seconds;
	appendStringInfo(&out->summary,
					 "the kernel refused %.0f connections because the listen queue (%d) was full, during ",
					 drops, max);
	pps_held_span(h, &out->summary);
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

bool
pps_holds_churn(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;
	double		life;

	if (!RATES(s, PPS_SRC_CONNSETUP) || s->connections_per_s < pps_diag_churn_per_s)
		return false;
	life = lifetime_estimate(s);
	return isnan(life) || life < pps_diag_churn_lifetime_s;
}

void
pps_describe_churn(const PpsDiagHeld *h, PpsDiagText *out)
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
	pps_held_span(h, &out->summary);
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

bool
pps_holds_parallel_churn(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;
	double		base;

	if (!RATES(s, PPS_SRC_PARALLEL))
		return false;
	if (s->parallel_planned_per_s > s->parallel_launched_per_s)
		return true;
	if (s->parallel_launched_per_s < pps_diag_parallel_min_per_s)
		return false;
	if (RATES(s, PPS_SRC_EBPF) && s->forks_per_s > 0)
		base = s->forks_per_s;
	else
		base = s->parallel_launched_per_s +
			(RATES(s, PPS_SRC_CONNSETUP) ? s->connections_per_s : 0);
	return base > 0 && s->parallel_launched_per_s * 100 >= pps_diag_parallel_share_pct * base;
}

void
pps_describe_parallel_churn(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		launched = HAVG(h, parallel_launched_per_s);
	double		planned = HAVG(h, parallel_planned_per_s);
	double		forks = HAVG(h, forks_per_s);

	appendStringInfo(&out->summary,
					 "%.0f parallel workers/s launched of %.0f/s planned during ",
					 launched, planned);
	pps_held_span(h, &out->summary);
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

bool
pps_holds_bgw_exhausted(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return VALID(s, PPS_SRC_BGWORKERS) && s->bgw_slots_total > 0 &&
		s->bgw_slots_in_use >= s->bgw_slots_total;
}

void
pps_describe_bgw_exhausted(const PpsDiagHeld *h, PpsDiagText *out)
{
	int32		total = HMAX_I32(h, bgw_slots_total);

	appendStringInfo(&out->summary,
					 "all %d background-worker slots (max_worker_processes) were in use during ", total);
	pps_held_span(h, &out->summary);
	appendStringInfo(&out->summary, "; %d registrations waited to start at peak",
					 Max(HMAX_I32(h, bgw_not_started), 0));
	pps_ev_num(&out->evidence, "bgworker_slots_in_use", HMAX_I32(h, bgw_slots_in_use));
	pps_ev_num(&out->evidence, "bgworker_slots_total", total);
	pps_ev_num(&out->evidence, "bgworker_slots_not_started", HMAX_I32(h, bgw_not_started));
	pps_ev_num(&out->evidence, "parallel_workers_active", HMAX_I32(h, bgw_parallel_active));
	appendStringInfo(&out->remedy,
					 "Parallel queries run with fewer workers and extensions cannot start theirs: raise max_worker_processes (now %d; restart), and keep max_parallel_workers below it",
					 total);
}

/* ---- slow_authentication ---- */

bool
pps_holds_slow_auth(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	if (!RATES(s, PPS_SRC_CONNSETUP) || isnan(s->conn_setup_p99_seconds) ||
		s->conn_setup_p99_seconds * 1000 < pps_diag_setup_ms)
		return false;
	return !RATES(s, PPS_SRC_POSTMASTER) || pm_busy(s) < pps_diag_idle_busy_pct;
}

void
pps_describe_slow_auth(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		p99 = HMAX(h, conn_setup_p99_seconds);
	double		avg = HAVG(h, conn_setup_avg_seconds);
	double		fail = HAVG(h, auth_failures_per_s);

	appendStringInfo(&out->summary,
					 "connection setup (fork to authenticated) took %.0f ms on average, p99 up to %.0f ms, during ",
					 avg * 1000, p99 * 1000);
	pps_held_span(h, &out->summary);
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
