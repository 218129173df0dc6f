#!/bin/bash
# The test command of pg_postmaster_stats (README "Testing"; .ci/run calls it).
#
# On a fresh Debian 12 machine, as root: installs the packages the build and
# the tests need, builds warning-free (-Werror), installs, then runs
# pg_regress and the TAP suite as the postgres OS user (initdb and postgres
# refuse to run as root) in a scratch copy of the tree.  Run as another user,
# it skips the apt and install steps and expects them done.
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
TEST_USER=${TEST_USER:-postgres}
. "$SRC_DIR/test/lib/install-deps.sh"

pps_install_packages
pps_build_install "$SRC_DIR"

WORK_DIR=$(mktemp -d /tmp/pps-tests.XXXXXX)
trap 'rm -rf "$WORK_DIR"' EXIT
cp -a "$SRC_DIR/." "$WORK_DIR/"
rm -rf "$WORK_DIR/.git"
if [ "$(id -u)" -eq 0 ]; then chown -R "$TEST_USER" "$WORK_DIR"; fi

pps_step "pg_regress and TAP tests"
status=0
(cd "$WORK_DIR" && pps_as_owner make PG_CONFIG="$PG_CONFIG" installcheck) || status=$?

if [ "$status" -ne 0 ]; then
	pps_step "failure details"
	if [ -f "$WORK_DIR/regression.diffs" ]; then cat "$WORK_DIR/regression.diffs"; fi
	for log in "$WORK_DIR"/tmp_check/log/regress_log_*; do
		[ -f "$log" ] || continue
		echo "----- $log (last 60 lines)"
		tail -n 60 "$log"
	done
fi
exit "$status"
