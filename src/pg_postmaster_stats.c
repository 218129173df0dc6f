/*-------------------------------------------------------------------------
 *
 * pg_postmaster_stats.c
 *	  Module entry point: GUCs, shared memory request, hooks, worker.
 *
 * Everything that needs the postmaster happens only when the library is
 * loaded from shared_preload_libraries.  Loaded any other way (CREATE
 * EXTENSION, a function call), the module only defines its GUCs, and every
 * SQL entry point reports that it must be preloaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "pps_guc.h"
#include "pps_probe_worker.h"
#include "pps_shmem.h"
#include "pps_worker.h"
#include "source_connsetup.h"
#include "source_parallel.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			pps_sample_interval_ms = 1000;
int			pps_history_size = 3600;
bool		pps_enabled = true;
bool		pps_snapshot_probe_enabled = true;
bool		pps_ebpf_enabled = true;
char	   *pps_ebpf_loader = NULL;
bool		pps_ebpf_syscalls = false;
int			pps_max_clients = 1000;
int			pps_max_parallel_queries = 500;
bool		pps_attribution = true;
char	   *pps_cgroup_cpu_dir = NULL;

#ifndef PPS_BPF_LOADER_PATH
#define PPS_BPF_LOADER_PATH ""
#endif

static shmem_startup_hook_type pps_prev_shmem_startup_hook = NULL;

static shmem_request_hook_type pps_prev_shmem_request_hook = NULL;

static void
pps_shmem_request_hook(void)
{
	if (pps_prev_shmem_request_hook)
		pps_prev_shmem_request_hook();
	pps_shmem_request();
}

static void
pps_shmem_startup_hook(void)
{
	if (pps_prev_shmem_startup_hook)
		pps_prev_shmem_startup_hook();
	pps_shmem_startup();
}

/* cgroup_cpu_dir: empty, or an absolute path (the sampler's cwd is the data directory) */
static bool
pps_check_cgroup_cpu_dir(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || (*newval)[0] == '/')
		return true;
	GUC_check_errdetail("pg_postmaster_stats.cgroup_cpu_dir must be empty or an absolute path.");
	return false;
}

static void
pps_define_gucs(void)
{
	DefineCustomIntVariable("pg_postmaster_stats.sample_interval",
							"Time between two samples of the sampler worker.",
							NULL,
							&pps_sample_interval_ms,
							1000, 100, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_postmaster_stats.enabled",
							 "Collects samples and connection counters.",
							 NULL,
							 &pps_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_postmaster_stats.snapshot_probe",
							 "Times a batch of GetSnapshotData() calls every sample interval.",
							 "Runs in its own background worker once the server is consistent.",
							 &pps_snapshot_probe_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_postmaster_stats.ebpf",
							 "Counts forks, exits and reaps exactly with eBPF, through the capability-holding loader.",
							 "Without the loader or its capabilities the other sources keep working.",
							 &pps_ebpf_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_postmaster_stats.ebpf_syscalls",
							 "Times the postmaster's fork, reap and accept system calls with eBPF.",
							 "On attaches to every system call of the machine (about 60 ns each, 2-3% of a short transaction); off (the default) keeps exact fork, exit and reap counts and the postmaster's on-CPU split, but has no fork times or reap latencies.",
							 &pps_ebpf_syscalls,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pg_postmaster_stats.diagnosis_busy_pct",
							"Diagnosis: share of the time the postmaster is on or waiting for a CPU that makes it saturated.",
							"postmaster_saturated holds when postmaster_cpu_pct + postmaster_cpu_wait_pct reaches it while connections arrive.",
							&pps_diag_busy_pct,
							90, 50, 100,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_postmaster_stats.diagnosis_setup_ms",
							"Diagnosis: connection setup time (p99, fork to authenticated) that is slow.",
							NULL,
							&pps_diag_setup_ms,
							100, 1, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_postmaster_stats.diagnosis_headroom_pct",
							"Diagnosis: headroom of a limit, in percent, under which limit_near holds.",
							NULL,
							&pps_diag_headroom_pct,
							10, 1, 99,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_postmaster_stats.diagnosis_churn_per_s",
							"Diagnosis: connections per second of short sessions that make connection_churn.",
							NULL,
							&pps_diag_churn_per_s,
							20, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pg_postmaster_stats.cgroup_cpu_dir",
							   "Directory of the postmaster's CPU cgroup, when it is not where /proc/self/mountinfo says.",
							   "Empty (the default): found from /proc/<postmaster pid>/cgroup and /proc/self/mountinfo. "
							   "For containers that mount their cgroup elsewhere, and for tests; v1 or v2 is told by the files in it.",
							   &pps_cgroup_cpu_dir,
							   "",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   pps_check_cgroup_cpu_dir, NULL, NULL);

	/* PGC_POSTMASTER variables can only be created while preloading */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("pg_postmaster_stats.history_size",
								"Number of samples kept in the shared-memory history.",
								"Each sample takes 552 bytes of shared memory; the default keeps an hour at one sample per second in 1.9 MiB.",
								&pps_history_size,
								3600, 10, 604800,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

	/* the server runs this program: postgresql.conf only, like archive_command's owner */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("pg_postmaster_stats.ebpf_loader",
								   "Path of the eBPF loader program (pg_postmaster_stats_bpf).",
								   NULL,
								   &pps_ebpf_loader,
								   PPS_BPF_LOADER_PATH,
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_postmaster_stats.attribution",
							 "Counts connections by client and parallel workers by query.",
							 "Off pauses the attribution tables without a restart; max_clients and max_parallel_queries = 0 also free their memory.",
							 &pps_attribution,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	/* attribution tables: fixed shared memory, sized at server start */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("pg_postmaster_stats.max_clients",
								"Number of clients (database, role, application_name, address) whose connections are counted.",
								"When full, the least used 5% are evicted. About 350 bytes of shared memory each; 0 turns the attribution of connections off.",
								&pps_max_clients,
								1000, 0, 100000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
		DefineCustomIntVariable("pg_postmaster_stats.max_parallel_queries",
								"Number of queries (queryid, database, role) whose parallel workers are counted.",
								"When full, the least used 5% are evicted. About 150 bytes of shared memory each; 0 turns it off.",
								&pps_max_parallel_queries,
								500, 0, 100000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	}

	pps_mark_guc_prefix_reserved("pg_postmaster_stats");
}

void
_PG_init(void)
{
	pps_define_gucs();

	if (!process_shared_preload_libraries_in_progress)
		return;

	pps_prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pps_shmem_request_hook;
	pps_prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pps_shmem_startup_hook;

	pps_connsetup_install();
	pps_parallel_install();
	pps_worker_register();
	pps_probe_worker_register();
}
