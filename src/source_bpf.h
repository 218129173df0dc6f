/*-------------------------------------------------------------------------
 *
 * source_bpf.h
 *	  Exact fork, exit and reap counts from eBPF, through the loader.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_BPF_H
#define SOURCE_BPF_H

#include <sys/types.h>

#include "pps_bpf.h"

/* Code addresses [start, end) in the server's processes. */
typedef struct PpsBpfRange
{
	uint64		start;
	uint64		end;
} PpsBpfRange;

extern bool pps_bpf_start(pid_t postmaster_pid, const char *loader_path,
						  int title_skip, const PpsBpfRange *snapshot,
						  bool syscalls, char *err, size_t errlen);
extern bool pps_bpf_active(void);
extern bool pps_bpf_sampling(void);
extern bool pps_bpf_counts_snapshot(void);
extern bool pps_bpf_syscalls(void);
extern uint32 pps_bpf_prog_mask(void);
extern bool pps_bpf_read(struct pps_bpf_stats *out);
extern void pps_bpf_stop(void);
extern const char *pps_bpf_status(void);
extern int	pps_bpf_prog_count(void);
extern bool pps_bpf_prog_stats(int prog, uint64 *run_cnt, uint64 *run_time_ns);

#endif							/* SOURCE_BPF_H */
