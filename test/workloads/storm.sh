#!/bin/bash
# Combined storm, the article's worst case: connection churn (pgbench -C, a
# fork and reap per transaction) plus parallel-query churn (a fork and reap
# per parallel worker), side by side for the same duration.
#   storm.sh [-C conn clients] [-P parallel sessions] [-w workers per query] [-T seconds] -- <conn opts>
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CONN=8 PAR=2 WORKERS=2 DURATION=10
while getopts "C:P:w:T:" opt; do
	case $opt in
		C) CONN=$OPTARG ;; P) PAR=$OPTARG ;; w) WORKERS=$OPTARG ;; T) DURATION=$OPTARG ;;
		*) echo "usage: $0 [-C N] [-P N] [-w N] [-T s] -- conn opts" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

pgbench -n -C -c "$CONN" -j 2 -T "$DURATION" -f "$HERE/select1.sql" "$@" >/tmp/pps-storm-conn.$$ 2>&1 &
CONN_PID=$!
status=0
if [ "$PAR" -gt 0 ]; then
	"$HERE/parallel_churn.sh" -c "$PAR" -i 20 -w "$WORKERS" -T "$DURATION" -- "$@" >/tmp/pps-storm-par.$$ 2>&1 || status=$?
fi
wait "$CONN_PID" || status=$?
echo "== connection churn"; grep -E 'processed|tps' /tmp/pps-storm-conn.$$ || cat /tmp/pps-storm-conn.$$
if [ "$PAR" -gt 0 ]; then echo "== parallel churn"; grep -E 'processed|tps' /tmp/pps-storm-par.$$ || cat /tmp/pps-storm-par.$$; fi
rm -f /tmp/pps-storm-conn.$$ /tmp/pps-storm-par.$$
exit "$status"
