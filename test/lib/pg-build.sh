#!/bin/bash
# Builds the PostgreSQL majors of the test matrix from source archives, once
# per machine.  Sourced by test/run-tests.sh (after install-deps.sh).
#
# 15 is Debian's package; every other major is built from
# $PPS_PG_SRC_DIR/postgresql-<major><suffix>.tar.xz (default: ../shared/pg-src
# beside the clone, read-only) into
#   $PPS_PG_CACHE_DIR/pg-<version>-<first 16 hex digits of the archive's SHA-256>
# A build is complete only once its stamp file exists, written last: an
# interrupted build is thrown away and redone, a completed one is reused, and
# a changed archive gets a new directory.  Builds run under a lock per cache
# directory, so two test runs on one machine never build the same tree twice.

PPS_PG_SRC_DIR=${PPS_PG_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared/pg-src}
PPS_PG_CACHE_DIR=${PPS_PG_CACHE_DIR:-/var/cache/pg_postmaster_stats}
PPS_PG_BUILD_JOBS=${PPS_PG_BUILD_JOBS:-2}
PPS_PG_STAMP=.pps-build-complete

# configure options: what a user of that major would build, plus the TAP
# modules (PostgreSQL::Test::Cluster) that our tests and PGXS prove need
PPS_PG_CONFIGURE_OPTS=(--enable-tap-tests --enable-debug --without-icu --without-readline)
# contrib modules the tests load (test/t/008_bgworkers.pl)
PPS_PG_CONTRIB=(pg_stat_statements)

# The archive of a major: postgresql-16.2.tar.xz, postgresql-19beta1.tar.xz.
# Exactly one per major, or we could not say which one was tested.
pps_pg_archive()
{
	local major=$1 found=()
	shopt -s nullglob
	found=("$PPS_PG_SRC_DIR"/postgresql-"$major"[.a-z]*.tar.xz)
	shopt -u nullglob
	if [ "${#found[@]}" -ne 1 ]; then
		echo "pg-build: expected one postgresql-$major.*.tar.xz in $PPS_PG_SRC_DIR, found ${#found[@]}" >&2
		echo "pg-build: set PPS_PG_SRC_DIR to the folder holding the PostgreSQL source archives" >&2
		return 1
	fi
	echo "${found[0]}"
}

# The installation prefix of a major's archive (does not build)
pps_pg_prefix()
{
	local archive sha version
	archive=$(pps_pg_archive "$1") || return 1
	sha=$(sha256sum "$archive" | cut -c1-16)
	version=$(basename "$archive" .tar.xz)
	version=${version#postgresql-}
	echo "$PPS_PG_CACHE_DIR/pg-$version-$sha"
}

# configure, make and install one unpacked archive (output: the build log)
pps_pg_build_tree()
{
	local archive=$1 prefix=$2 work=$3 m
	tar -xJf "$archive" -C "$work" || return 1
	cd "$work"/postgresql-* || return 1
	nice -n 10 ./configure --prefix="$prefix" "${PPS_PG_CONFIGURE_OPTS[@]}" || return 1
	nice -n 10 make -j"$PPS_PG_BUILD_JOBS" || return 1
	make install || return 1
	for m in "${PPS_PG_CONTRIB[@]}"; do
		nice -n 10 make -C "contrib/$m" install || return 1
	done
}

# Build and install a major unless its stamp says it is done; prints the
# prefix on stdout, the build's log goes to $prefix.log.
pps_pg_build()
{
	local major=$1 archive prefix work log start rc=0
	archive=$(pps_pg_archive "$major") || return 1
	prefix=$(pps_pg_prefix "$major") || return 1
	mkdir -p "$PPS_PG_CACHE_DIR"
	(
		flock 9
		[ -f "$prefix/$PPS_PG_STAMP" ] && exit 0
		log=$prefix.log
		work=$prefix.build
		start=$(date +%s)
		echo "pg-build: building $(basename "$archive") into $prefix (log: $log)" >&2
		rm -rf "$prefix" "$work"
		mkdir -p "$work"
		pps_pg_build_tree "$archive" "$prefix" "$work" >"$log" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "pg-build: building $(basename "$archive") failed; last lines of $log:" >&2
			tail -n 30 "$log" >&2
			exit "$rc"
		fi
		rm -rf "$work"
		echo "$(basename "$archive") $(sha256sum "$archive" | cut -d' ' -f1) built in $(($(date +%s) - start)) s" \
			>"$prefix/$PPS_PG_STAMP"
		echo "pg-build: $(cat "$prefix/$PPS_PG_STAMP")" >&2
	) 9>"$prefix.lock" || return 1
	echo "$prefix"
}

# pg_config of a major: Debian's for 15, a cached source build otherwise
pps_pg_config_for()
{
	local major=$1 prefix
	if [ "$major" = 15 ]; then
		echo "/usr/lib/postgresql/15/bin/pg_config"
		return 0
	fi
	prefix=$(pps_pg_build "$major") || return 1
	echo "$prefix/bin/pg_config"
}
