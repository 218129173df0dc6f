/*-------------------------------------------------------------------------
 *
 * pps_worker_bpf.h
 *	  The sampler's side of the eBPF source: attach, fold, rates.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_WORKER_BPF_H
#define PPS_WORKER_BPF_H

#include "pps_shmem.h"

extern void pps_wbpf_attach(bool retry);
extern void pps_wbpf_sample(PpsSample *s, double seconds);
extern void pps_wbpf_install_quit_handler(void);
extern void pps_wbpf_detach(void);
extern void pps_wbpf_own_exit(int code);

#endif							/* PPS_WORKER_BPF_H */
