/*-------------------------------------------------------------------------
 *
 * source_parallel.c
 *	  Parallel workers planned vs launched, from the leader's executor.
 *
 * Every parallel worker is a fork and a reap in the postmaster.  The planner
 * decides how many workers a Gather or Gather Merge wants (num_workers);
 * at run time the leader gets at most what max_parallel_workers and
 * max_worker_processes leave (nworkers_launched).  At ExecutorEnd, before
 * the plan state is freed, we add both up for every Gather / Gather Merge
 * that actually started (its "initialized" flag), so EXPLAIN without
 * ANALYZE and never-reached Gathers do not count as demand.
 *
 * Cost: a query that needs no parallel mode returns after one flag test;
 * no locks, no allocations.  Parallel queries walk their plan tree once and
 * do two atomic adds.  Limitation: a Gather rescanned several times (inside
 * a nested loop) reports only its last launch.
 *
 * Attribution: each parallel execution also counts under its query
 * (queryid, database, current role) in pps_pqueries_table.  The queryid is
 * 0 when compute_query_id is off; those executions share one row, and a
 * flag tells the sampler to say why in the sources view.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"

#include "pps_guc.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "pps_shmem.h"
#include "pps_shmem_overhead.h"
#include "pps_shmem_attrib.h"
#include "source_parallel.h"

static ExecutorEnd_hook_type pps_prev_executor_end = NULL;

typedef struct PpsParallelCount
{
	uint64		gathers;
	uint64		planned;
	uint64		launched;
} PpsParallelCount;

static bool
pps_parallel_walker(PlanState *ps, void *context)
{
	PpsParallelCount *c = (PpsParallelCount *) context;

	if (ps == NULL)
		return false;
	if (IsA(ps, GatherState))
	{
		GatherState *g = (GatherState *) ps;

		if (g->initialized)
		{
			c->gathers++;
			c->planned += ((Gather *) ps->plan)->num_workers;
			c->launched += Max(g->nworkers_launched, 0);
		}
	}
	else if (IsA(ps, GatherMergeState))
	{
		GatherMergeState *g = (GatherMergeState *) ps;

		if (g->initialized)
		{
			c->gathers++;
			c->planned += ((GatherMerge *) ps->plan)->num_workers;
			c->launched += Max(g->nworkers_launched, 0);
		}
	}
	return planstate_tree_walker(ps, pps_parallel_walker, context);
}

static void
pps_parallel_attribute(QueryDesc *queryDesc, const PpsParallelCount *c)
{
	PpsParallelKey key;
	uint64		deltas[PPS_PQ_NCOUNTERS];

	memset(&key, 0, sizeof(key));
	key.queryid = (int64) queryDesc->plannedstmt->queryId;
	key.dbid = MyDatabaseId;
	key.userid = GetUserId();
	deltas[PPS_PQ_EXECUTIONS] = 1;
	deltas[PPS_PQ_PLANNED] = c->planned;
	deltas[PPS_PQ_LAUNCHED] = c->launched;
	if (key.queryid == 0)
		pps_table_set_flag(&pps_pqueries_table);
	pps_table_add(&pps_pqueries_table, &key, deltas, GetCurrentTimestamp(), true);
}

static void
pps_parallel_executor_end(QueryDesc *queryDesc)
{
	uint64		timed = pps_shared != NULL ? pps_ovh_hook_enter(PPS_OVH_EXECUTOR_END_HOOK) : 0;

	if (queryDesc->plannedstmt->parallelModeNeeded &&
		pps_enabled && pps_shared != NULL && !IsParallelWorker() &&
		queryDesc->planstate != NULL &&
		(queryDesc->estate->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
	{
		PpsParallelCount c = {0, 0, 0};

		pps_parallel_walker(queryDesc->planstate, &c);
		if (c.gathers > 0)
		{
			pg_atomic_fetch_add_u64(&pps_shared->parallel_queries_total, 1);
			pg_atomic_fetch_add_u64(&pps_shared->parallel_planned_total, c.planned);
			pg_atomic_fetch_add_u64(&pps_shared->parallel_launched_total, c.launched);
			if (pps_attribution && pps_pqueries_table.sh != NULL)
				pps_parallel_attribute(queryDesc, &c);
		}
	}

	if (timed != 0)
		pps_ovh_hook_leave(PPS_OVH_EXECUTOR_END_HOOK, timed);

	if (pps_prev_executor_end)
		pps_prev_executor_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

void
pps_parallel_install(void)
{
	pps_prev_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = pps_parallel_executor_end;
}
