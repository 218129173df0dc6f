/*-------------------------------------------------------------------------
 *
 * pps_try.c
 *	  Running a read that may ERROR without letting the ERROR stop the
 *	  process that asked for it.
 *
 * The error is copied out and flushed: the caller reports the message (in
 * its source's state) and goes on, so one unreadable structure costs one
 * source, not the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "pps_try.h"

bool
pps_try(pps_try_fn fn, void *arg, const char *what, char *err, size_t errlen)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = false;

	PG_TRY();
	{
		ok = fn(arg, err, errlen);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		snprintf(err, errlen, "%s: %s", what, edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}
