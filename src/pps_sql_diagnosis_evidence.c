/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis_evidence.c
 *	  What the describers of the findings build their text from: the held
 *	  samples' average, highest and lowest value of a field, the time they
 *	  cover, and the members of the evidence's JSON object.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"
#include "utils/json.h"

#include "pps_sql_diagnosis_internal.h"

/* One sample's value of a field; NaN when unknown (see the header). */
static double
held_field(const PpsSample *s, size_t offset, PpsFieldType type)
{
	const char *p = (const char *) s + offset;

	switch (type)
	{
		case PPS_FIELD_INT32:
			{
				int32		v = *(const int32 *) p;

				return v >= 0 ? (double) v : get_float8_nan();
			}
		case PPS_FIELD_INT64:
			{
				int64		v = *(const int64 *) p;

				return v >= 0 ? (double) v : get_float8_nan();
			}
		default:
			return *(const double *) p;
	}
}

double
pps_held_avg(const PpsDiagHeld *h, size_t offset)
{
	double		sum = 0;
	int			n = 0;

	for (int i = 0; i < h->n; i++)
	{
		double		v = held_field(h->samples[i], offset, PPS_FIELD_FLOAT8);

		if (!isnan(v))
		{
			sum += v;
			n++;
		}
	}
	return n > 0 ? sum / n : get_float8_nan();
}

/* the highest (or lowest) known value of the held samples */
static double
held_extreme(const PpsDiagHeld *h, size_t offset, PpsFieldType type, bool highest)
{
	double		m = get_float8_nan();

	for (int i = 0; i < h->n; i++)
	{
		double		v = held_field(h->samples[i], offset, type);

		if (!isnan(v) && (isnan(m) || (highest ? v > m : v < m)))
			m = v;
	}
	if (isnan(m) && type != PPS_FIELD_FLOAT8)
		return -1;
	return m;
}

double
pps_held_max(const PpsDiagHeld *h, size_t offset, PpsFieldType type)
{
	return held_extreme(h, offset, type, true);
}

double
pps_held_min(const PpsDiagHeld *h, size_t offset, PpsFieldType type)
{
	return held_extreme(h, offset, type, false);
}

/* "N s of the last M s": the held samples' time against the window */
void
pps_held_span(const PpsDiagHeld *h, StringInfo out)
{
	double		held = 0;

	for (int i = 0; i < h->n; i++)
		held += h->samples[i]->interval_seconds;
	appendStringInfo(out, "%.0f s of the last %.0f s", held, h->window_seconds);
}

/* JSON members: numbers with enough digits, NaN as null */
void
pps_ev_num(StringInfo ev, const char *key, double v)
{
	if (ev->len > 0)
		appendStringInfoString(ev, ", ");
	if (isnan(v) || isinf(v))
		appendStringInfo(ev, "\"%s\": null", key);
	else
		appendStringInfo(ev, "\"%s\": %.6g", key, v);
}

void
pps_ev_text(StringInfo ev, const char *key, const char *v)
{
	if (ev->len > 0)
		appendStringInfoString(ev, ", ");
	appendStringInfo(ev, "\"%s\": ", key);
	escape_json(ev, v);
}
