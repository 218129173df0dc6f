/*-------------------------------------------------------------------------
 *
 * pps_guc.h
 *	  The settings of pg_postmaster_stats (pg_postmaster_stats.*), defined
 *	  in _PG_init (pg_postmaster_stats.c).  Every process reads its own
 *	  copy; the postmaster-only ones (history_size, ebpf_loader) are the
 *	  same in every process.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_GUC_H
#define PPS_GUC_H

extern int	pps_sample_interval_ms; /* pg_postmaster_stats.sample_interval */
extern int	pps_history_size;	/* .history_size: ring slots */
extern bool pps_enabled;		/* .enabled */
extern bool pps_snapshot_probe_enabled; /* .snapshot_probe */
extern bool pps_ebpf_enabled;	/* .ebpf */
extern bool pps_ebpf_syscalls;	/* .ebpf_syscalls */
extern char *pps_ebpf_loader;	/* .ebpf_loader */
extern int	pps_max_clients;	/* .max_clients: 0 turns attribution off */
extern int	pps_max_parallel_queries;	/* .max_parallel_queries: likewise */
extern bool pps_attribution;	/* .attribution: off pauses both tables */
extern char *pps_cgroup_cpu_dir;	/* .cgroup_cpu_dir: "" = find it */

/* thresholds of the diagnosis an operator may set otherwise (.diagnosis_*) */
extern int	pps_diag_busy_pct;
extern int	pps_diag_setup_ms;
extern int	pps_diag_headroom_pct;
extern int	pps_diag_churn_per_s;

#endif							/* PPS_GUC_H */
