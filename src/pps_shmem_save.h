/*-------------------------------------------------------------------------
 *
 * pps_shmem_save.h
 *	  The postmaster's copy of the segment across a crash restart.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SHMEM_SAVE_H
#define PPS_SHMEM_SAVE_H

#include "pps_shmem.h"

extern void pps_shmem_save(int code, Datum arg);
extern PpsSaveVerdict pps_shmem_restore(bool *restored);

#endif							/* PPS_SHMEM_SAVE_H */
