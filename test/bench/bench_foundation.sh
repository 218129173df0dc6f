#!/usr/bin/env bash
#
# bench_foundation.sh - figures for the pg_postmaster_stats foundation.
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.  Timings depend on the machine, its load and the kernel,
# so only a human (or a later script) should judge them.
#
# What it measures:
#   1. What one sampler tick costs with 10 and with 500 idle clients
#      connected, from the worker's own sampler_cpu_us and, as an independent
#      cross-check, from the kernel's accounting of the worker process.
#   2. pgbench TPS with the library preloaded and without it, on two clusters
#      with identical settings that run side by side, for a select-only
#      workload and for a new-connection-per-transaction workload (-C, which
#      exercises the ClientAuthentication_hook on every transaction).
#
# Usage (as root or as the postgres OS user):
#   test/bench/bench_foundation.sh
# Environment knobs (defaults in brackets):
#   RUNS [5]             pgbench runs per cluster and workload
#   DURATION [10]        seconds per pgbench run
#   SCALE [10]           pgbench -i scale factor
#   PGBENCH_CLIENTS [4]  pgbench -c
#   PGBENCH_THREADS [2]  pgbench -j
#   IDLE_CLIENTS ["10 500"]  idle client counts for the sampler cost
#   SAMPLES [30]         sampler ticks to observe per idle client count
#   CLIENT_HOST [socket dir]  where idle clients and pgbench connect; set to
#                        127.0.0.1 to use TCP instead of the Unix socket
#   PGBIN [/usr/lib/postgresql/15/bin]
#   KEEP_WORK [0]        1: keep the scratch directory (logs) afterwards
#
set -euo pipefail

BENCH_NAME=bench_foundation
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

pgbench_knobs 5 10
IDLE_CLIENTS=${IDLE_CLIENTS:-"10 500"}
SAMPLES=${SAMPLES:-30}

# Settings shared by both clusters, so the only difference between them is
# shared_preload_libraries.  max_connections must leave room for 500 idle
# clients plus the script's own queries.
MAX_CONNECTIONS=600

bench_setup

# --- clusters ------------------------------------------------------------------
pair_ports ext noext
make_cluster ext "$PORT_EXT" yes
make_cluster noext "$PORT_NOEXT" no

q "$PORT_EXT" "CREATE EXTENSION pg_postmaster_stats" >/dev/null
[[ $(q "$PORT_NOEXT" "SHOW shared_preload_libraries") == "" ]] ||
	die "noext cluster unexpectedly preloads a library"

INTERVAL_MS=$(q "$PORT_EXT" "SELECT setting FROM pg_settings WHERE name = 'pg_postmaster_stats.sample_interval'")
CLK_TCK=$(getconf CLK_TCK)

# --- 1. sampler cost per tick with N idle clients ----------------------------------
#
# Idle clients: N psql processes blocked on a fifo (start_idle_clients in
# test/lib/bench.sh), idle at the protocol level.
for n in $IDLE_CLIENTS; do
	log "sampler cost: connecting $n idle clients"
	start_idle_clients "$n" "$PORT_EXT"
	wait_for_clients "$n" "$PORT_EXT"
	wait_for_sample_with "$n" "$PORT_EXT"
	sleep 1

	wpid=$(q "$PORT_EXT" "SELECT worker_pid FROM pg_postmaster_stats")
	[[ $wpid =~ ^[0-9]+$ && $wpid -gt 0 ]] || die "no sampler worker pid"

	# The window: server clock at both ends for the history filter, kernel
	# CPU accounting of the worker at both ends for the cross-check.
	t0=$(q "$PORT_EXT" "SELECT clock_timestamp()")
	ticks0=$(proc_cpu_ticks "$wpid")
	rt0=$(proc_runtime_ns "$wpid")
	log "sampler cost: observing $SAMPLES ticks of ${INTERVAL_MS} ms (worker pid $wpid)"
	pause "$(awk -v s="$SAMPLES" -v i="$INTERVAL_MS" 'BEGIN { printf "%.3f", s * i / 1000 }')"
	ticks1=$(proc_cpu_ticks "$wpid")
	rt1=$(proc_runtime_ns "$wpid")
	t1=$(q "$PORT_EXT" "SELECT clock_timestamp()")

	# Every tick in the window counts for the /proc figure (the worker did
	# that work whatever it saw); the median only uses ticks that saw all N.
	IFS='|' read -r all_samples n_samples med_us p90_us max_us <<<"$(q "$PORT_EXT" "
		SELECT count(*),
		       count(*) FILTER (WHERE client_backends >= $n),
		       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY sampler_cpu_us)
		              FILTER (WHERE client_backends >= $n))::numeric, 1),
		       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY sampler_cpu_us)
		              FILTER (WHERE client_backends >= $n))::numeric, 1),
		       round((max(sampler_cpu_us) FILTER (WHERE client_backends >= $n))::numeric, 1)
		FROM pg_postmaster_stats_history
		WHERE \"time\" > '$t0' AND \"time\" <= '$t1'")"
	[[ $all_samples -gt 0 ]] || die "no samples in the window"

	# utime+stime is kept in clock ticks (${CLK_TCK}/s, i.e. 10 ms each at 100
	# Hz): over 30 cheap ticks that is only a few units, so schedstat's
	# nanosecond on-CPU time is printed alongside as the finer figure.  Both
	# include the worker's wakeup and latch overhead, which sampler_cpu_us
	# does not.
	read -r stat_us sched_us <<<"$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$CLK_TCK" \
		-v r0="$rt0" -v r1="$rt1" -v s="$all_samples" \
		'BEGIN { printf "%.1f %.1f\n", (b - a) * 1e6 / hz / s, (r1 - r0) / 1e3 / s }')"

	emit "sampler_cpu_per_tick clients=$n median_us=$med_us p90_us=$p90_us max_us=$max_us" \
		"proc_stat_us_per_tick=$stat_us schedstat_us_per_tick=$sched_us samples=$n_samples window_samples=$all_samples"

	stop_idle_clients
done

# --- 2. pgbench TPS, extension preloaded vs not ----------------------------------------
log "pgbench -i -s $SCALE on both clusters"
for port in "$PORT_EXT" "$PORT_NOEXT"; do
	pgbench_init "$port"
done

prep_ext() { AB_PORT=$PORT_EXT; }
prep_noext() { AB_PORT=$PORT_NOEXT; }
# ext then noext in every run, as this benchmark always did
AB_ORDER=fixed
compare_tps select_only ext noext -S
compare_tps connect_select_only ext noext -S -C

# What the extension counted over the whole run (mostly the -C connections):
# a sanity figure that the hook fired, not a timing.
emit "ext_counters $(q "$PORT_EXT" "SELECT 'connections_total=' || connections_total || ' samples_total=' || samples_total || ' worker_starts_total=' || worker_starts_total FROM pg_postmaster_stats")"

# --- summary -----------------------------------------------------------------------
print_summary
print_identity "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS max_connections=$MAX_CONNECTIONS pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS scale=$SCALE client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST")"
