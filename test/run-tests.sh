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
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
TEST_USER=${TEST_USER:-postgres}

APT_PACKAGES=(
	make gcc libc6-dev
	"postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" postgresql-contrib
	libkrb5-dev libssl-dev		# headers pulled in by libpq-be.h
	libipc-run-perl				# prove with PostgreSQL::Test::Cluster
	iproute2 procps
)

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
	step "installing packages: ${APT_PACKAGES[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

step "building with $PG_CONFIG ($("$PG_CONFIG" --version))"
make -C "$SRC_DIR" PG_CONFIG="$PG_CONFIG" clean >/dev/null
make -C "$SRC_DIR" PG_CONFIG="$PG_CONFIG" COPT=-Werror

if [ "$(id -u)" -eq 0 ]; then
	step "installing the extension"
	make -C "$SRC_DIR" PG_CONFIG="$PG_CONFIG" install
	RUN_AS=(runuser -u "$TEST_USER" --)
else
	RUN_AS=()
fi

WORK_DIR=$(mktemp -d /tmp/pps-tests.XXXXXX)
trap 'rm -rf "$WORK_DIR"' EXIT
cp -a "$SRC_DIR/." "$WORK_DIR/"
rm -rf "$WORK_DIR/.git"
[ "$(id -u)" -eq 0 ] && chown -R "$TEST_USER" "$WORK_DIR"

step "pg_regress and TAP tests (as ${TEST_USER:-$(id -un)})"
status=0
(cd "$WORK_DIR" && "${RUN_AS[@]}" make PG_CONFIG="$PG_CONFIG" installcheck) || status=$?

if [ "$status" -ne 0 ]; then
	step "failure details"
	[ -f "$WORK_DIR/regression.diffs" ] && cat "$WORK_DIR/regression.diffs"
	for log in "$WORK_DIR"/tmp_check/log/regress_log_*; do
		[ -f "$log" ] || continue
		echo "----- $log (last 60 lines)"
		tail -n 60 "$log"
	done
fi
exit "$status"
