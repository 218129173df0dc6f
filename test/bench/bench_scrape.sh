#!/bin/bash
# Does a 1 Hz scrape cost throughput?  pgbench -S (read-only, the load most
# sensitive to a stolen CPU slice) with and without a scrape every second,
# in alternating runs; prints the TPS of each run, the medians and their
# ratio (scrape / none; the issue asks for at least 0.995).  No assertion.
#
#   SCRAPE=exporter (default): GET /metrics of Debian's postgres_exporter
#     running monitoring/postgres_exporter/queries.yaml (our queries only);
#   SCRAPE=view: SELECT * FROM pg_postmaster_stats_metrics over one open
#     psql session (what an SQL-based scraper costs).
#
# Starts its own throwaway cluster (Unix socket only) and exporter (on a
# free 127.0.0.1 port) and removes them.  As root it runs them as the
# postgres OS user.  Settings: PG_BIN, ROUNDS (5), SECONDS_PER_RUN (20),
# CLIENTS (2 x CPUs), SCALE (10).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SCRAPE=${SCRAPE:-exporter}
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
NCPU=$(nproc)
CLIENTS=${CLIENTS:-$((2 * NCPU))}
SCALE=${SCALE:-10}
EXPORTER=${EXPORTER:-/usr/bin/prometheus-postgres-exporter}
OWNER=postgres

case $SCRAPE in
exporter) [ -x "$EXPORTER" ] || { echo "needs $EXPORTER: apt-get install prometheus-postgres-exporter" >&2; exit 1; } ;;
view) ;;
*) echo "SCRAPE must be exporter or view" >&2; exit 2 ;;
esac

# run as the cluster owner; exec_as_owner replaces the calling (sub)shell,
# so that $! of "(exec_as_owner ...) &" is the process to signal
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$OWNER" -- "$@"; else "$@"; fi; }
exec_as_owner() { if [ "$(id -u)" -eq 0 ]; then exec runuser -u "$OWNER" -- "$@"; else exec "$@"; fi; }

free_port()
{
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
	echo "no free port" >&2
	exit 1
}

http_get() { perl -MHTTP::Tiny -e '$r = HTTP::Tiny->new->get($ARGV[0]); print $r->{content}; exit !$r->{success}' "$1"; }

WORK=$(mktemp -d /tmp/pps-bench-scrape.XXXXXX)
chmod 755 "$WORK"
if [ "$(id -u)" -eq 0 ]; then chown "$OWNER" "$WORK"; fi
PGDATA=$WORK/data
PGPORT=$(free_port)
export PGHOST=$WORK PGPORT PGDATABASE=postgres
SCRAPER_PID=
EXPORTER_PID=

cleanup()
{
	if [ -n "$SCRAPER_PID" ]; then kill "$SCRAPER_PID" 2>/dev/null || true; fi
	if [ -n "$EXPORTER_PID" ]; then kill "$EXPORTER_PID" 2>/dev/null || true; wait "$EXPORTER_PID" 2>/dev/null || true; fi
	as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

as_owner "$PG_BIN/initdb" -D "$PGDATA" -A trust >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_postmaster_stats'
listen_addresses = ''
unix_socket_directories = '$WORK'
port = $PGPORT
EOF
as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/server.log" -w start >/dev/null
as_owner "$PG_BIN/psql" -qX -c 'CREATE EXTENSION pg_postmaster_stats' \
	-c 'CREATE ROLE pps_scraper LOGIN IN ROLE pg_monitor'
as_owner "$PG_BIN/pgbench" -q -i -s "$SCALE" >/dev/null 2>&1

if [ "$SCRAPE" = exporter ]; then
	EXPORTER_PORT=$(free_port)
	TARGET=http://127.0.0.1:$EXPORTER_PORT/metrics
	cp "$REPO/monitoring/postgres_exporter/queries.yaml" "$WORK/queries.yaml"
	chmod 644 "$WORK/queries.yaml"
	(DATA_SOURCE_NAME="host=$WORK port=$PGPORT dbname=postgres user=pps_scraper sslmode=disable" \
		exec_as_owner "$EXPORTER" --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
		--extend.query-path="$WORK/queries.yaml" --disable-default-metrics \
		--disable-settings-metrics --no-collector.database --no-collector.bgwriter \
		>"$WORK/exporter.log" 2>&1) &
	EXPORTER_PID=$!
	for _ in $(seq 50); do http_get "$TARGET" >/dev/null && break; sleep 0.1; done
fi

# The scraper runs for the whole benchmark, so that its processes (and the
# session it scrapes through) can be accounted; it scrapes once a second,
# on a deadline, only while $WORK/scraping exists, and keeps the number of
# scrapes in $WORK/scrapes.
cat >"$WORK/scraper.pl" <<'PERL'
use strict;
use warnings;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);

my ($dir, $target, @psql) = @ARGV;
my $n = 0;
my ($http, $psql);
if (@psql)
{
	open $psql, '|-', @psql or die "psql: $!";
	select((select($psql), $| = 1)[0]);
	print $psql "SELECT 1;\n";    # connect now
}
else { $http = HTTP::Tiny->new(timeout => 5); }
$SIG{TERM} = sub { close $psql if $psql; exit 0; };
my $next = time();
while (1)
{
	if (-e "$dir/scraping")
	{
		if ($http) { $http->get($target)->{success} or die "GET $target failed\n"; }
		else { print $psql "SELECT * FROM pg_postmaster_stats_metrics;\n"; }
		$n++;
		open my $fh, '>', "$dir/scrapes.tmp" or die;
		print $fh "$n\n";
		close $fh;
		rename "$dir/scrapes.tmp", "$dir/scrapes";
	}
	$next += 1;
	my $d = $next - time();
	sleep($d) if $d > 0;
}
PERL
chmod 644 "$WORK/scraper.pl"

if [ "$SCRAPE" = view ]; then
	(exec perl "$WORK/scraper.pl" "$WORK" - "$PG_BIN/psql" -qX -U pps_scraper -o /dev/null) >/dev/null &
else
	(exec perl "$WORK/scraper.pl" "$WORK" "$TARGET") >/dev/null &
fi
SCRAPER_PID=$!
echo 0 >"$WORK/scrapes"
sleep 1

# The processes a scrape costs CPU in: the client (the scraper, and its
# psql), the exporter, and the server backend serving them.
client_pids() { echo "$SCRAPER_PID" $(pgrep -P "$SCRAPER_PID"); }
exporter_pids() { if [ -n "$EXPORTER_PID" ]; then echo "$EXPORTER_PID" $(pgrep -P "$EXPORTER_PID"); fi; }
backend_pids() { as_owner "$PG_BIN/psql" -AtqX -c "SELECT pid FROM pg_stat_activity WHERE usename = 'pps_scraper'"; }
# CPU time of the processes given, in clock ticks
cpu_ticks()
{
	local pid total=0
	for pid in "$@"; do
		total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
	done
	echo "$total"
}

# one pgbench run; prints its TPS to stdout and a line to stderr
run()
{
	local mode=$1 tps scrapes= before
	before=$(cat "$WORK/scrapes")
	[ "$mode" = scrape ] && touch "$WORK/scraping"
	tps=$(as_owner "$PG_BIN/pgbench" -n -S -c "$CLIENTS" -j "$NCPU" -T "$SECONDS_PER_RUN" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
	if [ "$mode" = scrape ]; then
		rm -f "$WORK/scraping"
		sleep 1
		scrapes="($(($(cat "$WORK/scrapes") - before)) scrapes)"
	fi
	printf '  %-7s %10.1f tps %s\n' "$mode" "$tps" "$scrapes" >&2
	echo "$tps"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "pg_postmaster_stats scrape benchmark: SCRAPE=$SCRAPE; pgbench -S -c $CLIENTS -j $NCPU," \
	"$SECONDS_PER_RUN s per run, $ROUNDS rounds, scale $SCALE; $NCPU CPUs"
"$PG_BIN/postgres" --version
if [ "$SCRAPE" = exporter ]; then "$EXPORTER" --version 2>&1 | head -1; fi
run warm-up >/dev/null
CLIENT=$(client_pids) EXPORTER_PIDS=$(exporter_pids) BACKEND=$(backend_pids)
# shellcheck disable=SC2086
read -r c0 e0 b0 <<<"$(cpu_ticks $CLIENT) $(cpu_ticks $EXPORTER_PIDS) $(cpu_ticks $BACKEND)"
scrapes0=$(cat "$WORK/scrapes")
none=()
scrape=()
for r in $(seq "$ROUNDS"); do
	# alternate the order, so that drift in the machine's speed cancels out
	if [ $((r % 2)) -eq 1 ]; then
		none+=("$(run none)")
		scrape+=("$(run scrape)")
	else
		scrape+=("$(run scrape)")
		none+=("$(run none)")
	fi
done

# shellcheck disable=SC2086
read -r c1 e1 b1 <<<"$(cpu_ticks $CLIENT) $(cpu_ticks $EXPORTER_PIDS) $(cpu_ticks $BACKEND)"
scrapes=$(($(cat "$WORK/scrapes") - scrapes0))

m_none=$(printf '%s\n' "${none[@]}" | median)
m_scrape=$(printf '%s\n' "${scrape[@]}" | median)
if [ "$SCRAPE" = exporter ]; then
	echo "one scrape: $(http_get "$TARGET" | sed -n 's/^pg_exporter_last_scrape_duration_seconds //p') s" \
		"in the exporter, $(http_get "$TARGET" | grep -c '^pg_postmaster_') pg_postmaster_ series"
fi
awk -v a="$m_scrape" -v b="$m_none" \
	'BEGIN { printf "median TPS: none %.1f, 1 Hz scrape %.1f; ratio %.4f (target >= 0.995)\n", b, a, a / b }'
# What the TPS ratio measures with noise, CPU accounting measures directly:
# what a scrape costs, and at 1 Hz which share of the machine that is.
awk -v c=$((c1 - c0)) -v e=$((e1 - e0)) -v b=$((b1 - b0)) -v hz="$(getconf CLK_TCK)" \
	-v n="$scrapes" -v cpus="$NCPU" 'BEGIN {
	f = n ? 1000 / hz / n : 0
	printf "CPU per scrape over %d scrapes: backend %.2f ms, exporter %.2f ms, client %.2f ms\n", n, b * f, e * f, c * f
	server = (b + e) * f
	printf "on the database server (backend + exporter) %.2f ms: at 1 Hz %.3f%% of the %d CPUs, TPS ratio bound %.4f\n",
		server, server / 10 / cpus, cpus, 1 - server / 1000 / cpus
}'
