/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis_internal.h
 *	  What the files of the diagnosis' findings share, and nothing else
 *	  includes: the constants of pps_sql_diagnosis_rules.c, the helpers of
 *	  pps_sql_diagnosis_evidence.c and pps_sql_diagnosis_sources.c, and the
 *	  rules and describers that pps_findings[] lists.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SQL_DIAGNOSIS_INTERNAL_H
#define PPS_SQL_DIAGNOSIS_INTERNAL_H

#include "pps_sql_diagnosis.h"

/* whether a sample's source answered, and with rates (not its first sample) */
#define VALID(s, src) (((s)->valid & PPS_SRC_BIT(src)) != 0)
#define RATES(s, src) (VALID(s, src) && (s)->has_rates)

/* the constant thresholds, listed in pps_thresholds[] */
extern const double pps_diag_starved_wait_pct;
extern const double pps_diag_idle_busy_pct;
extern const double pps_diag_throttled_pct;
extern const double pps_diag_churn_lifetime_s;
extern const double pps_diag_parallel_share_pct;
extern const double pps_diag_parallel_min_per_s;
extern const double pps_diag_snapshot_factor;
extern const double pps_diag_snapshot_floor_ns;
extern const double pps_diag_snapshot_procs_factor;
extern const double pps_diag_replay_headroom_max;
extern const double pps_diag_pagetable_big_bytes;
extern const double pps_diag_fork_slow_seconds;

/*
 * The held samples' values of one field (pps_sql_diagnosis_evidence.c).
 * Unknown values are skipped: NaN, and negative integers (the sources'
 * "none").  With no known value, a float8 field gives NaN and an integer
 * field -1.  Integers come back as double, exact up to 2^53.
 */
typedef enum PpsFieldType
{
	PPS_FIELD_FLOAT8,
	PPS_FIELD_INT32,
	PPS_FIELD_INT64
} PpsFieldType;

extern double pps_held_avg(const PpsDiagHeld *h, size_t offset);
extern double pps_held_max(const PpsDiagHeld *h, size_t offset, PpsFieldType type);
extern double pps_held_min(const PpsDiagHeld *h, size_t offset, PpsFieldType type);

/* the field's size must match the type given (double and int64 look alike) */
#define PPS_HELD(fn, h, f, type, ctype) \
	(StaticAssertExpr(sizeof(((PpsSample *) 0)->f) == sizeof(ctype), \
					  "field " #f " is not " #ctype), \
	 fn(h, offsetof(PpsSample, f), type))
#define HAVG(h, f) pps_held_avg(h, offsetof(PpsSample, f))
#define HMAX(h, f) PPS_HELD(pps_held_max, h, f, PPS_FIELD_FLOAT8, double)
#define HMIN(h, f) PPS_HELD(pps_held_min, h, f, PPS_FIELD_FLOAT8, double)
#define HMAX_I32(h, f) ((int32) PPS_HELD(pps_held_max, h, f, PPS_FIELD_INT32, int32))
#define HMAX_I64(h, f) ((int64) PPS_HELD(pps_held_max, h, f, PPS_FIELD_INT64, int64))

extern void pps_held_span(const PpsDiagHeld *h, StringInfo out);
extern void pps_ev_num(StringInfo ev, const char *key, double v);
extern void pps_ev_text(StringInfo ev, const char *key, const char *v);

/* the top sources of the churn findings (pps_sql_diagnosis_sources.c) */
extern void pps_diag_top_clients(StringInfo summary, StringInfo evidence, int n);
extern void pps_diag_top_parallel(StringInfo summary, StringInfo evidence, int n);

/* pps_sql_diagnosis_postmaster.c */
extern bool pps_holds_saturated(const PpsDiagContext *c);
extern void pps_describe_saturated(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_starved(const PpsDiagContext *c);
extern void pps_describe_starved(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_accept_backlog(const PpsDiagContext *c);
extern void pps_describe_accept_backlog(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_listen_overflow(const PpsDiagContext *c);
extern void pps_describe_listen_overflow(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_churn(const PpsDiagContext *c);
extern void pps_describe_churn(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_parallel_churn(const PpsDiagContext *c);
extern void pps_describe_parallel_churn(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_bgw_exhausted(const PpsDiagContext *c);
extern void pps_describe_bgw_exhausted(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_slow_auth(const PpsDiagContext *c);
extern void pps_describe_slow_auth(const PpsDiagHeld *h, PpsDiagText *out);

/* pps_sql_diagnosis_server.c */
extern bool pps_holds_throttled(const PpsDiagContext *c);
extern void pps_describe_throttled(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_snapshot_cost(const PpsDiagContext *c);
extern void pps_describe_snapshot_cost(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_subxact(const PpsDiagContext *c);
extern void pps_describe_subxact(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_replay_behind(const PpsDiagContext *c);
extern void pps_describe_replay_behind(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_replay_paused(const PpsDiagContext *c);
extern void pps_describe_replay_paused(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_limit_near(const PpsDiagContext *c);
extern void pps_describe_limit_near(const PpsDiagHeld *h, PpsDiagText *out);
extern bool pps_holds_source_inactive(const PpsDiagContext *c);
extern void pps_describe_source_inactive(const PpsDiagHeld *h, PpsDiagText *out);

#endif							/* PPS_SQL_DIAGNOSIS_INTERNAL_H */
