#!/bin/bash
# The test command of pg_postmaster_stats (README "Testing", docs/testing.md; .ci/run calls it).
#
# Runs the whole suite (pg_regress and every TAP test) against each
# PostgreSQL major of PG_MAJORS in turn (default: all supported, "15 16 17
# 18 19"; e.g. PG_MAJORS="15 18").  15 is Debian's package; the others are
# built once per machine from the source archives in PPS_PG_SRC_DIR
# (default ../shared/pg-src beside this clone) into PPS_PG_CACHE_DIR (see
# test/lib/pg-build.sh).  For each major: a warning-free build (-Werror)
# against it, make install (and the test fixture of test/fatfork, which
# users never get), then the tests as the postgres OS user (initdb
# and postgres refuse to run as root) in a scratch copy of the tree.  The
# majors run one after the other: the timing-sensitive tests need the
# machine's cores.  Any failing major fails the run; a table at the end
# says what each one did.
#
# On a fresh Debian 12 machine, as root, it first installs the packages.
# Run as another user, it skips the apt and install steps and expects them
# done.  With PPS_MAJOR_LOCK_DIR set, each major's install and tests run
# under the lock file $PPS_MAJOR_LOCK_DIR/pps-pg<major>.lock, for machines
# where several runs share an installation.
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
TEST_USER=${TEST_USER:-postgres}
PG_MAJORS=${PG_MAJORS:-"15 16 17 18 19"}
. "$SRC_DIR/test/lib/install-deps.sh"
. "$SRC_DIR/test/lib/pg-build.sh"

pps_install_packages

# logs, summary rows and the scratch copies of the tree
RESULTS_DIR=$(mktemp -d /tmp/pps-tests.XXXXXX)
chmod 755 "$RESULTS_DIR"

# ---- cgroup for test/t/018_cgroup_cpu.pl ----
# As root, with the cgroup v1 cpu controller mounted: a cgroup pps_test that
# the test user may create cgroups in and move its own postmaster into and
# back out of (v1 lets a process be moved by its own user into a cgroup
# whose cgroup.procs that user may write).  Removed at the end, with any
# cgroup a failed test left in it.
PPS_CGROUP_DIR=
if [ "$(id -u)" -eq 0 ]; then
	cpu_mnt=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break;
		if ($(i + 1) == "cgroup" && ("," $(i + 3) ",") ~ /,cpu,/) { print $5; exit } }' /proc/self/mountinfo)
	if [ -n "$cpu_mnt" ] && mkdir -p "$cpu_mnt/pps_test"; then
		PPS_CGROUP_DIR=$cpu_mnt/pps_test
		chown "$TEST_USER" "$PPS_CGROUP_DIR" "$PPS_CGROUP_DIR/cgroup.procs" "$PPS_CGROUP_DIR/tasks"
	fi
fi
pps_cleanup()
{
	if [ -n "$PPS_CGROUP_DIR" ] && [ -d "$PPS_CGROUP_DIR" ]; then
		find "$PPS_CGROUP_DIR" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
		rmdir "$PPS_CGROUP_DIR" || echo "could not remove $PPS_CGROUP_DIR (processes still in it?)" >&2
	fi
	rm -rf "$RESULTS_DIR"
	pps_bpf_stats restore || true
}
trap pps_cleanup EXIT

# pg_regress's and prove's summary lines, from the major's test log
pps_regress_summary()
{
	local line
	line=$(grep -Eo '(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests failed)' "$1" | tail -n 1) || true
	echo "${line:-not run}"
}
pps_tap_summary()
{
	local files tests
	files=$(grep -Eo 'Files=[0-9]+, Tests=[0-9]+' "$1" | tail -n 1) || true
	if [ -z "$files" ]; then
		echo "not run"
		return
	fi
	tests=${files#*Tests=}
	files=${files%%,*}
	files=${files#Files=}
	if grep -q '^Result: PASS' "$1"; then
		echo "$files files, $tests tests passed"
	else
		echo "$files files, $tests tests, FAILED: $(grep -Eo '^test/t/[^ ]+\.pl +\(Wstat' "$1" | sed 's/ .*//' | sort -u | tr '\n' ' ')"
	fi
}

# kernel.bpf_stats_enabled for test/t/024_overhead.pl: only root can set
# it, so this script sets it (1 for the suite, then 0 for 024 once more)
# and tells the test which state to expect; "restore" puts back the
# machine's setting.  Returns non-zero when it cannot set it (not root).
PPS_BPF_STATS_ORIG=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo "")
pps_bpf_stats()
{
	if [ "$(id -u)" -ne 0 ] || [ -z "$PPS_BPF_STATS_ORIG" ]; then
		unset PPS_EXPECT_BPF_STATS
		return 1
	fi
	if [ "$1" = restore ]; then
		sysctl -q kernel.bpf_stats_enabled="$PPS_BPF_STATS_ORIG"
		unset PPS_EXPECT_BPF_STATS
		return 0
	fi
	sysctl -q kernel.bpf_stats_enabled="$1" && export PPS_EXPECT_BPF_STATS="$1"
}

# pg_regress and the TAP files of one major, in a scratch copy; output in
# $log; returns non-zero if either failed
pps_test_major()
{
	local major=$1 log=$2 work="$RESULTS_DIR/tree-$1" rc=0
	mkdir "$work"
	cp -a "$SRC_DIR/." "$work/"
	rm -rf "$work/.git"
	if [ "$(id -u)" -eq 0 ]; then chown -R "$TEST_USER" "$work"; fi

	pps_step "PostgreSQL $major: pg_regress"
	(cd "$work" && pps_as_owner make PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS=) 2>&1 | tee -a "$log" ||
		rc=1
	pps_step "PostgreSQL $major: TAP tests"
	pps_bpf_stats 1
	(cd "$work" && pps_as_owner make PG_CONFIG="$PG_CONFIG" installcheck REGRESS=) 2>&1 | tee -a "$log" ||
		rc=1
	# the overhead view's other eBPF state: kernel statistics disabled
	if pps_bpf_stats 0; then
		(cd "$work" && pps_as_owner make PG_CONFIG="$PG_CONFIG" installcheck REGRESS= \
			PROVE_TESTS=test/t/024_overhead.pl) 2>&1 | tee -a "$log" || rc=1
	fi
	pps_bpf_stats restore

	if [ "$rc" -ne 0 ]; then
		pps_step "PostgreSQL $major: failure details"
		if [ -f "$work/regression.diffs" ]; then cat "$work/regression.diffs"; fi
		# the TAP files prove reports as failed: their log and their servers'
		for t in $(grep -Eo '^test/t/[^ ]+\.pl +\(Wstat' "$log" | sed 's/ .*//' | sort -u); do
			t=$(basename "$t" .pl)
			for f in "$work/tmp_check/log/regress_log_$t" "$work/tmp_check/log/${t}"_*.log; do
				[ -f "$f" ] || continue
				echo "----- $f (last 40 lines)"
				tail -n 40 "$f"
			done
		done
	fi
	return "$rc"
}

# one major, start to end; writes its row of the summary table
pps_run_major()
{
	local major=$1 log="$RESULTS_DIR/$major.log" start build_s build origin rc=0 lock
	start=$(date +%s)
	: >"$log"
	origin="Debian package"
	if [ "$major" != 15 ]; then
		origin="built from source"
		if [ -f "$(pps_pg_prefix "$major" 2>/dev/null)/$PPS_PG_STAMP" ]; then origin="source build, cached"; fi
	fi

	pps_step "PostgreSQL $major"
	if ! PG_CONFIG=$(pps_pg_config_for "$major"); then
		echo "| $major | - | build of PostgreSQL failed | - | - | FAIL | $(($(date +%s) - start)) s |" \
			>"$RESULTS_DIR/$major.row"
		return 1
	fi
	build_s=$(($(date +%s) - start))
	build="$("$PG_CONFIG" --version | sed 's/^PostgreSQL //')"

	lock=/dev/null
	if [ -n "${PPS_MAJOR_LOCK_DIR:-}" ]; then lock="$PPS_MAJOR_LOCK_DIR/pps-pg$major.lock"; fi
	(
		[ "$lock" = /dev/null ] || { echo "waiting for $lock" >&2; flock 8; }
		{ pps_build_install "$SRC_DIR" && pps_build_install_fixtures "$SRC_DIR"; } 2>&1 | tee -a "$log" && pps_test_major "$major" "$log"
	) 8>>"$lock" || rc=$?

	echo "| $major | $build | $origin$( [ "$origin" = "built from source" ] && echo " in ${build_s} s" ) | $(pps_regress_summary "$log") | $(pps_tap_summary "$log") | $( [ "$rc" -eq 0 ] && echo pass || echo FAIL ) | $(($(date +%s) - start)) s |" \
		>"$RESULTS_DIR/$major.row"
	return "$rc"
}

status=0
t0=$(date +%s)
for major in $PG_MAJORS; do
	pps_run_major "$major" || status=1
done

pps_step "Summary ($(($(date +%s) - t0)) s)"
echo "| major | version | PostgreSQL | pg_regress | TAP | result | time |"
echo "|---|---|---|---|---|---|---|"
for major in $PG_MAJORS; do cat "$RESULTS_DIR/$major.row"; done
exit "$status"
