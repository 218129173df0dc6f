/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis.h
 *	  The findings of the diagnosis (pps_sql_diagnosis.c): their rules,
 *	  thresholds and remedies, listed once in pps_sql_diagnosis_rules.c
 *	  (what the files of the findings share: pps_sql_diagnosis_internal.h).
 *
 * The diagnosis runs at query time over a copy of the sample history: no
 * work is added to the sampler's tick.  A rule looks at one sample (and
 * the one before it, for growth); the engine counts the samples of the
 * window where it held, finds its runs and asks the rule to describe what
 * it saw.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SQL_DIAGNOSIS_H
#define PPS_SQL_DIAGNOSIS_H

#include "lib/stringinfo.h"

#include "pps_shmem.h"

typedef enum PpsSeverity
{
	PPS_SEV_INFO = 0,
	PPS_SEV_WARNING,
	PPS_SEV_CRITICAL
} PpsSeverity;

/* What a rule sees of one sample: it, the one before, and the whole history. */
typedef struct PpsDiagContext
{
	const PpsSample *s;
	const PpsSample *prev;		/* NULL for the first sample of the history */
	double		snapshot_base_ns;	/* lowest snapshot_ns of the history */
	int32		snapshot_base_procs;	/* snapshot_procs of that sample */
} PpsDiagContext;

/* The samples of the window where a finding held, for its description. */
typedef struct PpsDiagHeld
{
	const PpsSample *const *samples;
	int			n;
	const PpsLimitsReading *limits; /* NULL when the probe never published */
	const PpsSourceState *sources;	/* every source's state now */
	double		window_seconds;
	const PpsDiagContext *ctx;	/* baselines of the history */
} PpsDiagHeld;

/* What a finding says; every field is allocated by the describer. */
typedef struct PpsDiagText
{
	StringInfoData summary;
	StringInfoData evidence;	/* a JSON object's members, without braces */
	StringInfoData remedy;
} PpsDiagText;

typedef struct PpsFinding
{
	const char *name;			/* the stable identifier (API) */
	PpsSeverity severity;
	int			min_run;		/* successive samples needed to report it */
	const char *source_views;	/* text[] literal: where to look next */
	bool		(*holds) (const PpsDiagContext *c);
	void		(*describe) (const PpsDiagHeld *h, PpsDiagText *out);
} PpsFinding;

/*
 * A threshold, as the rules use it and pg_postmaster_stats_diagnosis_rules
 * and docs/diagnosis.md list it.  value points at the constant or at the
 * variable behind the setting, read when the rules run.
 */
typedef struct PpsThreshold
{
	const char *finding;
	const char *name;
	const char *unit;
	const char *setting;		/* the GUC, or NULL for a constant */
	const double *value_f;		/* one of value_f and value_i is set */
	const int  *value_i;
	const char *rule;			/* the condition it is used in */
} PpsThreshold;

extern const PpsFinding pps_findings[];
extern const int pps_nfindings;
extern const PpsThreshold pps_thresholds[];
extern const int pps_nthresholds;

extern double pps_threshold_value(const PpsThreshold *t);
extern const char *pps_severity_name(PpsSeverity s);

#endif							/* PPS_SQL_DIAGNOSIS_H */
