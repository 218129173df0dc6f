/*-------------------------------------------------------------------------
 *
 * source_connsetup.h
 *	  Connection counts and fork-to-authentication latency.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_CONNSETUP_H
#define SOURCE_CONNSETUP_H

extern void pps_connsetup_install(void);

#endif							/* SOURCE_CONNSETUP_H */
