/*-------------------------------------------------------------------------
 *
 * source_children.c
 *	  Live postmaster children by backend type.
 *
 * Every process that has finished starting up registers itself in the
 * server's "Backend Status Array" (what pg_stat_activity reads).  Building
 * pg_stat_activity's local copy costs a memcpy of every entry and its
 * strings; the sampler only needs each entry's pid and type, so it attaches
 * to the array directly (ShmemInitStruct with the exact size, which fails
 * loudly rather than guessing if the layout differs) and reads those two
 * fields under the entry's changecount protocol.  Children that are still
 * authenticating, and those that never register (syslogger), are the
 * difference between the postmaster's child count and this sum.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/backend_status.h"

#include "source_children.h"

static PgBackendStatus *pps_be_array = NULL;
static int	pps_be_slots = 0;

static bool
pps_children_attach(char *err, size_t errlen)
{
	bool		found;
	Size		size;

	if (pps_be_array != NULL)
		return true;

	pps_be_slots = PPS_BACKEND_STATUS_SLOTS();
	size = mul_size(sizeof(PgBackendStatus), pps_be_slots);
	pps_be_array = (PgBackendStatus *)
		ShmemInitStruct("Backend Status Array", size, &found);
	if (!found)
	{
		/* a fresh allocation means this server names it differently */
		pps_be_array = NULL;
		snprintf(err, errlen, "the server has no \"Backend Status Array\" in shared memory");
		return false;
	}
	return true;
}

/* One entry's pid and type, under the entry's changecount protocol. */
static void
pps_children_read_entry(volatile PgBackendStatus *be, int *pid, int *type)
{
	for (;;)
	{
		int			before;
		int			after;

		pgstat_begin_read_activity(be, before);
		*pid = be->st_procpid;
		*type = (int) be->st_backendType;
		pgstat_end_read_activity(be, after);
		if (pgstat_read_activity_complete(before, after))
			break;
		CHECK_FOR_INTERRUPTS();
	}
}

bool
pps_children_read(PpsChildrenReading *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!pps_children_attach(err, errlen))
		return false;

	for (int i = 0; i < pps_be_slots; i++)
	{
		int			pid;
		int			type;

		pps_children_read_entry(&pps_be_array[i], &pid, &type);
		if (pid > 0 && type >= 0 && type < PPS_MAX_BACKEND_TYPES)
		{
			r->by_type[type]++;
			r->registered++;
			if (pps_children_type_in_procarray(type))
				r->registered_in_procarray++;
			if (type == B_AUTOVAC_WORKER && r->n_autovacuum < PPS_MAX_AUTOVACUUM_PIDS)
				r->autovacuum_pids[r->n_autovacuum++] = pid;
		}
	}
	return true;
}

/*
 * Entries in the proc array: what GetSnapshotData() scans, and every
 * process that joined it in InitPostgres() (client backends from before
 * authentication, walsenders, autovacuum, connected background workers),
 * prepared transactions excluded.  A PGPROC's pid is not a liveness test:
 * PostgreSQL before 17 leaves it set when the process exits.  Takes
 * ProcArrayLock in shared mode for one pass over the array.
 */
int32
pps_children_in_procarray(void)
{
	return (int32) CountDBBackends(InvalidOid);
}

/* The backend types that join the proc array, as counted above. */
bool
pps_children_type_in_procarray(int backend_type)
{
	return backend_type == B_BACKEND || backend_type == B_AUTOVAC_WORKER ||
		backend_type == B_AUTOVAC_LAUNCHER || backend_type == B_WAL_SENDER ||
		backend_type == B_BG_WORKER;
}

/*
 * Pid of a live process of the given backend type, 0 if there is none, -1
 * (with err set) if the array cannot be read.  *slot_hint, -1 at first,
 * remembers the entry where it was found: a long-lived process (the startup
 * process) then costs one entry per call instead of a pass over the array.
 */
int
pps_children_find_pid(int backend_type, int *slot_hint, char *err, size_t errlen)
{
	if (!pps_children_attach(err, errlen))
		return -1;

	if (*slot_hint >= 0 && *slot_hint < pps_be_slots)
	{
		int			pid;
		int			type;

		pps_children_read_entry(&pps_be_array[*slot_hint], &pid, &type);
		if (pid > 0 && type == backend_type)
			return pid;
	}
	for (int i = 0; i < pps_be_slots; i++)
	{
		int			pid;
		int			type;

		pps_children_read_entry(&pps_be_array[i], &pid, &type);
		if (pid > 0 && type == backend_type)
		{
			*slot_hint = i;
			return pid;
		}
	}
	*slot_hint = -1;
	return 0;
}

/*
 * Up to max pids of live processes of the given type, spread evenly over
 * the array so that a sample is not only the oldest slots; -1 (with err
 * set) if the array cannot be read.
 */
int
pps_children_pids(int backend_type, pid_t *pids, int max, char *err, size_t errlen)
{
	int			matching = 0;
	int			stride;
	int			seen = 0;
	int			n = 0;

	if (!pps_children_attach(err, errlen))
		return -1;
	for (int i = 0; i < pps_be_slots; i++)
	{
		int			pid;
		int			type;

		pps_children_read_entry(&pps_be_array[i], &pid, &type);
		if (pid > 0 && type == backend_type)
			matching++;
	}
	stride = Max(matching / Max(max, 1), 1);
	for (int i = 0; i < pps_be_slots && n < max; i++)
	{
		int			pid;
		int			type;

		pps_children_read_entry(&pps_be_array[i], &pid, &type);
		if (pid > 0 && type == backend_type && seen++ % stride == 0)
			pids[n++] = pid;
	}
	return n;
}

const char *
pps_children_type_name(int backend_type)
{
	return GetBackendTypeDesc((BackendType) backend_type);
}
