#!/bin/bash
# Parallel churn from several sessions at once.
#   parallel_churn.sh [-c concurrency] [-i iterations per session] [-w workers per query] [-T seconds] -- <psql/pgbench connection options>
# With -T, each session loops for that many seconds (pgbench); otherwise each
# session runs the given number of iterations once.  Needs pps_churn_setup()
# and pps_parallel_churn() from parallel_churn.sql in the target database.
set -euo pipefail
CONC=4 ITER=100 WORKERS=2 SECONDS_=0
while getopts "c:i:w:T:" opt; do
	case $opt in
		c) CONC=$OPTARG ;; i) ITER=$OPTARG ;; w) WORKERS=$OPTARG ;; T) SECONDS_=$OPTARG ;;
		*) echo "usage: $0 [-c N] [-i N] [-w N] [-T s] -- conn opts" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

SCRIPT=$(mktemp /tmp/pps-churn.XXXXXX.sql)
# no exec below: the trap must run to remove the script
trap 'rm -f "$SCRIPT"' EXIT
chmod a+r "$SCRIPT"
echo "SELECT pps_parallel_churn($ITER, $WORKERS);" >"$SCRIPT"

if [ "$SECONDS_" -gt 0 ]; then
	pgbench -n -c "$CONC" -j "$CONC" -T "$SECONDS_" -f "$SCRIPT" "$@"
else
	pgbench -n -c "$CONC" -j "$CONC" -t 1 -f "$SCRIPT" "$@"
fi
