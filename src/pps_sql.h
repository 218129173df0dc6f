/*-------------------------------------------------------------------------
 *
 * pps_sql.h
 *	  Helpers shared by the SQL-callable functions (pps_sql*.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SQL_H
#define PPS_SQL_H

#include "fmgr.h"
#include "access/tupdesc.h"
#include "utils/tuplestore.h"

/* Builds tuples column by column, so NULL handling stays in one place. */
typedef struct PpsRow
{
	Datum	   *values;
	bool	   *nulls;
	int			ncols;
	int			col;
} PpsRow;

extern void pps_row_start(PpsRow *row, TupleDesc tupdesc);
extern void pps_row_put(PpsRow *row, bool isnull, Datum value);
extern void pps_row_float(PpsRow *row, bool valid, double v);
extern void pps_row_int4(PpsRow *row, bool valid, int32 v);
extern void pps_row_int8(PpsRow *row, bool valid, int64 v);
extern void pps_row_check(PpsRow *row);
/* a PpsReplayStateCode as the replay view names it; NULL when unknown */
extern const char *pps_valid_str(const char *s);
extern TupleDesc pps_srf_start(FunctionCallInfo fcinfo, Tuplestorestate **store);

/*
 * Declares SQL-callable function fn, whose body is fn_body: its calls and
 * CPU time go to the "sql" row of pg_postmaster_stats_overhead (a call
 * that raises an ERROR is not counted).
 */
extern uint64 pps_sql_enter(void);
extern void pps_sql_leave(uint64 start);

#define PPS_SQL_FUNCTION(fn) \
	static Datum fn##_body(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(fn); \
	Datum \
	fn(PG_FUNCTION_ARGS) \
	{ \
		uint64		start_ = pps_sql_enter(); \
		Datum		result_ = fn##_body(fcinfo); \
		pps_sql_leave(start_); \
		return result_; \
	}

#endif							/* PPS_SQL_H */
