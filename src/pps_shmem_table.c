/*-------------------------------------------------------------------------
 *
 * pps_shmem_table.c
 *	  Bounded shared-memory tables of counters by key (who connects, which
 *	  query launches parallel workers), with eviction of the least used.
 *
 * Each table has its own segment and is split into partitions by the
 * key's hash; each partition has its own LWLock (one named tranche per
 * table), its own entries, bucket index and free list.  So two backends
 * counting different keys rarely share a lock, and never an exclusive one
 * in the common case:
 *
 * - Counting an event for a known key: the partition's lock in shared
 *	 mode, a lookup in its open-addressing index, atomic adds on the entry.
 *	 Shared holders never wait for each other.
 *
 * - A new key: the lock in exclusive mode, insertion.  When the partition
 *	 is full, one pass first evicts its least used entries (5%, at least
 *	 one): usage is the number of events, decayed by 1/128 at each eviction
 *	 pass, so an entry that stopped being used loses to new ones, and ties
 *	 go to the entry seen least recently.  The sort works in scratch space
 *	 of the partition, so eviction allocates nothing either.
 *
 * - The sampler walks each partition under its shared lock once per tick
 *	 to smooth the connection rate of every entry (rate_bits, prev: it is
 *	 their only writer).  SQL readers copy a partition under its shared lock
 *	 and build tuples after releasing it.
 *
 * - Reset re-initializes each partition under its exclusive lock.
 *
 * The geometry (partitions, entries per partition) comes from each
 * process's own copy of a PGC_POSTMASTER setting, never from the segment.
 * A crash restart starts the tables empty: unlike the counters, they are
 * not copied across it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "storage/shmem.h"

#include "pps_shmem_table.h"

/* an event's weight in usage; fixed point so that decay keeps precision */
#define PPS_USAGE_UNIT 1024
#define PPS_USAGE_DECAY_SHIFT 7
/* entries per partition before a table gets another partition */
#define PPS_TABLE_PART_MIN 32

typedef struct PpsTableEntry
{
	uint32		hash;
	bool		in_use;
	int32		next_free;		/* free list, under the exclusive lock */
	pg_atomic_uint64 usage;
	pg_atomic_uint64 last_seen;
	TimestampTz first_seen;
	pg_atomic_uint64 rate_bits; /* double, written by the sampler only */
	uint64		prev;			/* counter 0 at the last tick, sampler only */
	pg_atomic_uint64 counters[PPS_TABLE_MAX_COUNTERS];
	char		key[FLEXIBLE_ARRAY_MEMBER];
} PpsTableEntry;

typedef struct PpsTablePart
{
	int32		nused;
	int32		free_head;		/* -1: full */
	int32		high_water;		/* slots at or above it were never used */
} PpsTablePart;

/* what eviction sorts, in the partition's scratch space */
typedef struct PpsEvictItem
{
	uint64		usage;
	TimestampTz last_seen;
	int32		slot;
} PpsEvictItem;

typedef struct PpsTableShared
{
	pg_atomic_uint64 dealloc_total;
	pg_atomic_uint32 flag;
	PpsTablePart parts[PPS_TABLE_MAX_PARTS];
} PpsTableShared;

void
pps_table_define(PpsTable *t, const char *name, int max_entries,
				 int key_size, int ncounters)
{
	Assert(ncounters <= PPS_TABLE_MAX_COUNTERS);
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->max_entries = max_entries;
	t->key_size = key_size;
	t->ncounters = ncounters;
	if (max_entries <= 0)
		return;
	t->nparts = Max(1, Min(PPS_TABLE_MAX_PARTS, max_entries / PPS_TABLE_PART_MIN));
	t->part_capacity = max_entries / t->nparts;
	t->part_buckets = 1;
	while (t->part_buckets < 2 * t->part_capacity)
		t->part_buckets <<= 1;
	t->entry_size = MAXALIGN(offsetof(PpsTableEntry, key) + key_size);
}

static Size
pps_table_off_scratch(const PpsTable *t)
{
	return MAXALIGN(sizeof(int32) * t->part_buckets);
}

static Size
pps_table_off_entries(const PpsTable *t)
{
	return pps_table_off_scratch(t) + MAXALIGN(sizeof(PpsEvictItem) * t->part_capacity);
}

static Size
pps_table_part_size(const PpsTable *t)
{
	return pps_table_off_entries(t) + t->entry_size * t->part_capacity;
}

static Size
pps_table_size(const PpsTable *t)
{
	return add_size(MAXALIGN(sizeof(PpsTableShared)),
					mul_size(pps_table_part_size(t), t->nparts));
}

static char *
pps_table_part_base(const PpsTable *t, int p)
{
	return (char *) t->sh + MAXALIGN(sizeof(PpsTableShared)) + pps_table_part_size(t) * p;
}

static int32 *
pps_table_buckets(const PpsTable *t, int p)
{
	return (int32 *) pps_table_part_base(t, p);
}

static PpsEvictItem *
pps_table_scratch(const PpsTable *t, int p)
{
	return (PpsEvictItem *) (pps_table_part_base(t, p) + pps_table_off_scratch(t));
}

static PpsTableEntry *
pps_table_entry(const PpsTable *t, int p, int slot)
{
	return (PpsTableEntry *) (pps_table_part_base(t, p) + pps_table_off_entries(t) +
							  t->entry_size * slot);
}

void
pps_table_request(PpsTable *t)
{
	if (t->max_entries <= 0)
		return;
	RequestAddinShmemSpace(pps_table_size(t));
	RequestNamedLWLockTranche(t->name, t->nparts);
}

/* Empty partition p; its lock is held exclusively, or nobody else runs. */
static void
pps_table_part_clear(PpsTable *t, int p, bool init)
{
	PpsTablePart *part = &t->sh->parts[p];

	memset(pps_table_buckets(t, p), 0, sizeof(int32) * t->part_buckets);
	for (int i = 0; i < t->part_capacity; i++)
	{
		PpsTableEntry *e = pps_table_entry(t, p, i);

		e->in_use = false;
		e->next_free = i + 1 < t->part_capacity ? i + 1 : -1;
		if (init)
		{
			pg_atomic_init_u64(&e->usage, 0);
			pg_atomic_init_u64(&e->last_seen, 0);
			pg_atomic_init_u64(&e->rate_bits, 0);
			for (int k = 0; k < PPS_TABLE_MAX_COUNTERS; k++)
				pg_atomic_init_u64(&e->counters[k], 0);
		}
	}
	part->nused = 0;
	part->free_head = 0;
	part->high_water = 0;
}

/*
 * The slots of partition p that can be in use: the free list hands out
 * slots from 0 up and takes freed ones back at its head, so a table with
 * few sources is walked over those few, not its whole capacity.  Read
 * under the partition's lock; bounded by what this process computed.
 */
static int
pps_table_used_slots(PpsTable *t, int p)
{
	return Min(Max(t->sh->parts[p].high_water, 0), t->part_capacity);
}

void
pps_table_startup(PpsTable *t)
{
	bool		found;

	if (t->max_entries <= 0)
		return;
	t->sh = ShmemInitStruct(t->name, pps_table_size(t), &found);
	t->locks = GetNamedLWLockTranche(t->name);
	if (found)
		return;
	pg_atomic_init_u64(&t->sh->dealloc_total, 0);
	pg_atomic_init_u32(&t->sh->flag, 0);
	for (int p = 0; p < t->nparts; p++)
		pps_table_part_clear(t, p, true);
}

static uint32
pps_table_start(const PpsTable *t, uint32 hash)
{
	return hash & (uint32) (t->part_buckets - 1);
}

/* The slot holding key in partition p, or -1; the lock is held. */
static int
pps_table_find(const PpsTable *t, int p, uint32 hash, const void *key)
{
	int32	   *b = pps_table_buckets(t, p);
	uint32		mask = (uint32) (t->part_buckets - 1);

	/* at most half the buckets are used: the probe always ends */
	for (uint32 i = pps_table_start(t, hash);; i = (i + 1) & mask)
	{
		PpsTableEntry *e;

		if (b[i] == 0)
			return -1;
		e = pps_table_entry(t, p, b[i] - 1);
		if (e->hash == hash && memcmp(e->key, key, t->key_size) == 0)
			return b[i] - 1;
	}
}

static void
pps_table_index(const PpsTable *t, int p, int slot)
{
	int32	   *b = pps_table_buckets(t, p);
	uint32		mask = (uint32) (t->part_buckets - 1);
	uint32		i = pps_table_start(t, pps_table_entry(t, p, slot)->hash);

	while (b[i] != 0)
		i = (i + 1) & mask;
	b[i] = slot + 1;
}

static int
pps_evict_cmp(const void *a, const void *b)
{
	const PpsEvictItem *x = (const PpsEvictItem *) a;
	const PpsEvictItem *y = (const PpsEvictItem *) b;

	if (x->usage != y->usage)
		return x->usage < y->usage ? -1 : 1;
	if (x->last_seen != y->last_seen)
		return x->last_seen < y->last_seen ? -1 : 1;
	return 0;
}

/* Evict the least used 5% of partition p; its lock is held exclusively. */
static void
pps_table_evict(PpsTable *t, int p)
{
	PpsTablePart *part = &t->sh->parts[p];
	PpsEvictItem *items = pps_table_scratch(t, p);
	int			n = 0;
	int			nevict = Max(1, t->part_capacity / 20);

	for (int i = 0; i < t->part_capacity; i++)
	{
		PpsTableEntry *e = pps_table_entry(t, p, i);
		uint64		u;

		if (!e->in_use)
			continue;
		u = pg_atomic_read_u64(&e->usage);
		u -= u >> PPS_USAGE_DECAY_SHIFT;
		pg_atomic_write_u64(&e->usage, u);
		items[n].usage = u;
		items[n].last_seen = (TimestampTz) pg_atomic_read_u64(&e->last_seen);
		items[n].slot = i;
		n++;
	}
	qsort(items, n, sizeof(PpsEvictItem), pps_evict_cmp);
	nevict = Min(nevict, n);
	for (int k = 0; k < nevict; k++)
	{
		PpsTableEntry *e = pps_table_entry(t, p, items[k].slot);

		e->in_use = false;
		e->next_free = part->free_head;
		part->free_head = items[k].slot;
	}
	part->nused -= nevict;

	/* deleting from linear probing breaks chains: rebuild the index */
	memset(pps_table_buckets(t, p), 0, sizeof(int32) * t->part_buckets);
	for (int i = 0; i < t->part_capacity; i++)
		if (pps_table_entry(t, p, i)->in_use)
			pps_table_index(t, p, i);
	pg_atomic_fetch_add_u64(&t->sh->dealloc_total, nevict);
}

static int
pps_table_insert(PpsTable *t, int p, uint32 hash, const void *key, TimestampTz now)
{
	PpsTablePart *part = &t->sh->parts[p];
	PpsTableEntry *e;
	int			slot;

	if (part->free_head < 0)
		pps_table_evict(t, p);
	slot = part->free_head;
	e = pps_table_entry(t, p, slot);
	part->free_head = e->next_free;
	part->nused++;
	part->high_water = Max(part->high_water, slot + 1);

	e->hash = hash;
	memcpy(e->key, key, t->key_size);
	e->first_seen = now;
	e->prev = 0;
	pg_atomic_write_u64(&e->usage, 0);
	pg_atomic_write_u64(&e->rate_bits, 0);
	for (int k = 0; k < PPS_TABLE_MAX_COUNTERS; k++)
		pg_atomic_write_u64(&e->counters[k], 0);
	e->in_use = true;
	pps_table_index(t, p, slot);
	return slot;
}

static void
pps_table_bump(PpsTable *t, PpsTableEntry *e, const uint64 *deltas, TimestampTz now)
{
	for (int k = 0; k < t->ncounters; k++)
		if (deltas[k] != 0)
			pg_atomic_fetch_add_u64(&e->counters[k], deltas[k]);
	pg_atomic_fetch_add_u64(&e->usage, PPS_USAGE_UNIT);
	pg_atomic_write_u64(&e->last_seen, (uint64) now);
}

/*
 * Add deltas[] to key's counters.  An unknown key gets an entry when
 * "insert", else the event is dropped (false).  No allocation, no system
 * call; an exclusive lock only for a new key.
 */
bool
pps_table_add(PpsTable *t, const void *key, const uint64 *deltas,
			  TimestampTz now, bool insert)
{
	uint32		hash;
	int			p;
	LWLock	   *lock;
	int			slot;

	if (t->sh == NULL)
		return false;
	hash = hash_bytes((const unsigned char *) key, t->key_size);
	/* the index uses the low bits; the partition, the high ones */
	p = (int) ((hash >> 20) % (uint32) t->nparts);
	lock = &t->locks[p].lock;

	LWLockAcquire(lock, LW_SHARED);
	slot = pps_table_find(t, p, hash, key);
	if (slot >= 0)
		pps_table_bump(t, pps_table_entry(t, p, slot), deltas, now);
	LWLockRelease(lock);
	if (slot >= 0)
		return true;
	if (!insert)
		return false;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	slot = pps_table_find(t, p, hash, key);
	if (slot < 0)
		slot = pps_table_insert(t, p, hash, key, now);
	pps_table_bump(t, pps_table_entry(t, p, slot), deltas, now);
	LWLockRelease(lock);
	return true;
}

Size
pps_table_row_size(const PpsTable *t)
{
	return MAXALIGN(offsetof(PpsTableRow, key) + t->key_size);
}

/* A palloc'd copy of every entry; rows are pps_table_row_size() apart. */
PpsTableRow *
pps_table_copy(PpsTable *t, int *nrows)
{
	Size		rsize = pps_table_row_size(t);
	char	   *rows;
	int			n = 0;

	*nrows = 0;
	if (t->sh == NULL)
		return NULL;
	rows = palloc0(rsize * t->part_capacity * t->nparts);
	for (int p = 0; p < t->nparts; p++)
	{
		int			used;

		LWLockAcquire(&t->locks[p].lock, LW_SHARED);
		used = pps_table_used_slots(t, p);
		for (int i = 0; i < used; i++)
		{
			PpsTableEntry *e = pps_table_entry(t, p, i);
			PpsTableRow *r = (PpsTableRow *) (rows + rsize * n);
			uint64		bits;

			if (!e->in_use)
				continue;
			for (int k = 0; k < t->ncounters; k++)
				r->counters[k] = pg_atomic_read_u64(&e->counters[k]);
			bits = pg_atomic_read_u64(&e->rate_bits);
			memcpy(&r->rate_per_s, &bits, sizeof(double));
			r->first_seen = e->first_seen;
			r->last_seen = (TimestampTz) pg_atomic_read_u64(&e->last_seen);
			memcpy(r->key, e->key, t->key_size);
			n++;
		}
		LWLockRelease(&t->locks[p].lock);
	}
	*nrows = n;
	return (PpsTableRow *) rows;
}

/*
 * Sampler only: smooth each entry's rate of counter 0 over the last
 * "seconds", exponentially with time constant tau_seconds.
 */
void
pps_table_sample(PpsTable *t, double seconds, double tau_seconds)
{
	double		alpha;

	if (t->sh == NULL || seconds <= 0)
		return;
	alpha = 1.0 - exp(-seconds / tau_seconds);
	for (int p = 0; p < t->nparts; p++)
	{
		int			used;

		LWLockAcquire(&t->locks[p].lock, LW_SHARED);
		used = pps_table_used_slots(t, p);
		for (int i = 0; i < used; i++)
		{
			PpsTableEntry *e = pps_table_entry(t, p, i);
			uint64		cur;
			uint64		bits;
			double		rate;
			double		now_rate;

			if (!e->in_use)
				continue;
			cur = pg_atomic_read_u64(&e->counters[0]);
			bits = pg_atomic_read_u64(&e->rate_bits);
			memcpy(&rate, &bits, sizeof(double));
			now_rate = (cur >= e->prev ? cur - e->prev : cur) / seconds;
			rate += alpha * (now_rate - rate);
			memcpy(&bits, &rate, sizeof(double));
			pg_atomic_write_u64(&e->rate_bits, bits);
			e->prev = cur;
		}
		LWLockRelease(&t->locks[p].lock);
	}
}

void
pps_table_reset(PpsTable *t)
{
	if (t->sh == NULL)
		return;
	for (int p = 0; p < t->nparts; p++)
	{
		LWLockAcquire(&t->locks[p].lock, LW_EXCLUSIVE);
		pps_table_part_clear(t, p, false);
		LWLockRelease(&t->locks[p].lock);
	}
	pg_atomic_write_u64(&t->sh->dealloc_total, 0);
	pg_atomic_write_u32(&t->sh->flag, 0);
}

uint64
pps_table_dealloc_total(PpsTable *t)
{
	return t->sh ? pg_atomic_read_u64(&t->sh->dealloc_total) : 0;
}

/* A sticky flag the writers raise (a parallel query without a queryid). */
void
pps_table_set_flag(PpsTable *t)
{
	if (t->sh && pg_atomic_read_u32(&t->sh->flag) == 0)
		pg_atomic_write_u32(&t->sh->flag, 1);
}

bool
pps_table_flag(PpsTable *t)
{
	return t->sh && pg_atomic_read_u32(&t->sh->flag) != 0;
}
