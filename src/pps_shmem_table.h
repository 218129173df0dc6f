/*-------------------------------------------------------------------------
 *
 * pps_shmem_table.h
 *	  Bounded shared-memory tables of counters by key, with eviction of
 *	  the least used entries: who connects (clients) and which query
 *	  launches parallel workers (parallel queries).  Rules in
 *	  pps_shmem_table.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SHMEM_TABLE_H
#define PPS_SHMEM_TABLE_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/lwlock.h"

#define PPS_TABLE_MAX_COUNTERS 6
#define PPS_TABLE_MAX_PARTS 16

/* One entry as a reader gets it (pps_table_copy). */
typedef struct PpsTableRow
{
	uint64		counters[PPS_TABLE_MAX_COUNTERS];
	double		rate_per_s;		/* of counter 0, smoothed by the sampler */
	TimestampTz first_seen;
	TimestampTz last_seen;
	char		key[FLEXIBLE_ARRAY_MEMBER];
} PpsTableRow;

struct PpsTableShared;

/* A process's handle on one table; geometry from its own GUC copy. */
typedef struct PpsTable
{
	const char *name;			/* segment and LWLock tranche */
	int			max_entries;	/* the GUC; 0: the table is off */
	int			key_size;
	int			ncounters;
	int			nparts;
	int			part_capacity;
	int			part_buckets;	/* a power of 2 */
	Size		entry_size;
	struct PpsTableShared *sh;
	LWLockPadded *locks;
} PpsTable;

extern void pps_table_define(PpsTable *t, const char *name, int max_entries,
							 int key_size, int ncounters);
extern void pps_table_request(PpsTable *t);
extern void pps_table_startup(PpsTable *t);
extern bool pps_table_add(PpsTable *t, const void *key, const uint64 *deltas,
						  TimestampTz now, bool insert);
extern PpsTableRow *pps_table_copy(PpsTable *t, int *nrows);
extern Size pps_table_row_size(const PpsTable *t);
extern void pps_table_sample(PpsTable *t, double seconds, double tau_seconds);
extern void pps_table_reset(PpsTable *t);
extern uint64 pps_table_dealloc_total(PpsTable *t);
extern void pps_table_set_flag(PpsTable *t);
extern bool pps_table_flag(PpsTable *t);

#endif							/* PPS_SHMEM_TABLE_H */
