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
extern char *pps_ebpf_loader;	/* .ebpf_loader */
extern char *pps_cgroup_cpu_dir;	/* .cgroup_cpu_dir: "" = find it */

/* thresholds of the diagnosis an operator may set otherwise (.diagnosis_*) */
extern int	pps_diag_busy_pct;
extern int	pps_diag_setup_ms;
extern int	pps_diag_headroom_pct;
extern int	pps_diag_churn_per_s;

#endif							/* PPS_GUC_H */
