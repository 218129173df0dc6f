/*-------------------------------------------------------------------------
 *
 * source_children.h
 *	  Live postmaster children by backend type.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_CHILDREN_H
#define SOURCE_CHILDREN_H

#include "pps_compat.h"

typedef struct PpsChildrenReading
{
	uint16		by_type[PPS_MAX_BACKEND_TYPES];
	int32		registered;		/* sum of by_type */
} PpsChildrenReading;

extern bool pps_children_read(PpsChildrenReading *r, char *err, size_t errlen);
extern const char *pps_children_type_name(int backend_type);

#endif							/* SOURCE_CHILDREN_H */
