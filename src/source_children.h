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

#define PPS_MAX_AUTOVACUUM_PIDS 256

typedef struct PpsChildrenReading
{
	uint16		by_type[PPS_MAX_BACKEND_TYPES];
	int32		registered;		/* sum of by_type */
	int32		registered_in_procarray;	/* those of proc-array types */
	int			n_autovacuum;	/* pids of live autovacuum workers */
	int			autovacuum_pids[PPS_MAX_AUTOVACUUM_PIDS];
} PpsChildrenReading;

extern bool pps_children_read(PpsChildrenReading *r, char *err, size_t errlen);
extern const char *pps_children_type_name(int backend_type);
extern int32 pps_children_in_procarray(void);
extern bool pps_children_type_in_procarray(int backend_type);
extern int	pps_children_find_pid(int backend_type, int *slot_hint,
								  char *err, size_t errlen);
extern int	pps_children_pids(int backend_type, pid_t *pids, int max,
							  char *err, size_t errlen);

#endif							/* SOURCE_CHILDREN_H */
