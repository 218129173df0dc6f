/*-------------------------------------------------------------------------
 *
 * source_bgworkers.c
 *	  The server's background-worker registry: slots and registrations.
 *
 * Every parallel worker and every dynamic background worker is registered
 * in bgworker.c's shared slot array before the postmaster forks it.  The
 * array is private to bgworker.c, so we attach to it by name with the
 * server's size of it (pps_compat.h) and check that our copy of the layout
 * accounts for exactly that size.
 *
 * What we read:
 * - parallel_register_count / parallel_terminate_count: uint32 counters the
 *	 server keeps for max_parallel_workers; their differences across samples
 *	 (modulo 2^32) are the parallel workers registered and terminated.
 * - each slot's generation, bumped by every dynamic registration into that
 *	 slot: the sum of their differences counts registrations exactly, even
 *	 for workers that lived and died between two samples.
 * - in_use and pid: slots in use, and workers registered but not started.
 *
 * No lock: BackgroundWorkerLock would make the sampler wait for backends
 * registering workers.  Each field is read once with a barrier; a sample can
 * see a slot mid-update, which only shifts one registration to the next
 * sample.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "postmaster/bgworker_internals.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

#include "pps_compat.h"
#include "source_bgworkers.h"

static PpsBgwArray *pps_bgw_array = NULL;
static uint64 *pps_bgw_prev_generation = NULL;

static bool
pps_bgw_attach(char *err, size_t errlen)
{
	Size		size;
	Size		ours;
	bool		found;
	PpsBgwArray *arr;

	if (pps_bgw_array != NULL)
		return true;

	size = pps_bgw_segment_size();
	arr = ShmemInitStruct(PPS_BGW_SEGMENT_NAME, size, &found);
	if (!found)
	{
		snprintf(err, errlen, "the server has no \"%s\" segment", PPS_BGW_SEGMENT_NAME);
		return false;
	}
	ours = add_size(offsetof(PpsBgwArray, slot),
					mul_size(sizeof(PpsBgwSlot), arr->total_slots));
	if (arr->total_slots != max_worker_processes || ours != size)
	{
		snprintf(err, errlen,
				 "background worker registry layout not recognised (%d slots, %zu bytes expected, server has %zu); this PostgreSQL version is not supported by this source",
				 arr->total_slots, ours, size);
		return false;
	}

	pps_bgw_prev_generation = MemoryContextAllocZero(TopMemoryContext,
													 sizeof(uint64) * arr->total_slots);
	for (int i = 0; i < arr->total_slots; i++)
		pps_bgw_prev_generation[i] = arr->slot[i].generation;
	pps_bgw_array = arr;
	return true;
}

bool
pps_bgw_read(PpsBgwReading *r, char *err, size_t errlen)
{
	PpsBgwArray *arr;

	memset(r, 0, sizeof(*r));
	if (!pps_bgw_attach(err, errlen))
		return false;
	arr = pps_bgw_array;

	r->slots_total = arr->total_slots;
	r->parallel_register_count = ((volatile PpsBgwArray *) arr)->parallel_register_count;
	r->parallel_terminate_count = ((volatile PpsBgwArray *) arr)->parallel_terminate_count;
	pg_read_barrier();

	for (int i = 0; i < arr->total_slots; i++)
	{
		volatile PpsBgwSlot *slot = &arr->slot[i];
		uint64		gen = slot->generation;

		/* generations only grow; a smaller one would be a torn read */
		if (gen > pps_bgw_prev_generation[i])
		{
			r->registrations += gen - pps_bgw_prev_generation[i];
			pps_bgw_prev_generation[i] = gen;
		}
		if (slot->in_use)
		{
			r->slots_in_use++;
			if (slot->pid == InvalidPid)
				r->not_started++;
		}
	}
	return true;
}
