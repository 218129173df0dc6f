#!/bin/bash
# Installs, as root on Debian 12, everything needed to build, install, test
# and demo pg_postmaster_stats; then builds and installs it.  Sourced by
# test/run-tests.sh and test/demo.sh.

# Debian 12 packages PostgreSQL 15 only; the test command builds the other
# majors from source (test/lib/pg-build.sh).
PPS_DEBIAN_PG_MAJOR=15
PG_MAJOR=${PG_MAJOR:-$PPS_DEBIAN_PG_MAJOR}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin

PPS_APT_PACKAGES=(
	make gcc libc6-dev
	bison flex					# PostgreSQL 16-19 built from git trees (pg-build.sh)
	"postgresql-$PPS_DEBIAN_PG_MAJOR" "postgresql-server-dev-$PPS_DEBIAN_PG_MAJOR" postgresql-contrib
	libkrb5-dev libssl-dev		# headers pulled in by libpq-be.h
	libipc-run-perl				# prove with PostgreSQL::Test::Cluster
	iproute2 procps util-linux
	clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev	# the eBPF loader
	libcap-dev libcap2-bin		# its capability handling; setcap
	prometheus prometheus-postgres-exporter	# monitoring tests (test/t/021-023)
	bpftrace					# independent counts in test/scenarios and test/bench
	gdb							# writes corrupt values into the live segment (test/t/015)
)

# Services the packages above would start on their default ports (9090,
# 9187); the tests run their own on free loopback ports.
PPS_PACKAGED_SERVICES=(prometheus prometheus-postgres-exporter)

pps_step() { printf '\n==> %s\n' "$*"; }

# apt packages, when running as root
pps_install_packages()
{
	[ "$(id -u)" -eq 0 ] || return 0
	pps_step "installing packages: ${PPS_APT_PACKAGES[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	pps_without_service_starts \
		apt-get install -y -qq --no-install-recommends "${PPS_APT_PACKAGES[@]}" >/dev/null
}

# Run "$@" with service starts refused (policy-rc.d, which invoke-rc.d and
# deb-systemd-invoke obey), so installing a package starts no daemon; a
# policy the machine already has is left as it is.  Services of packages
# installed now that run anyway are stopped; already installed ones are
# not touched.
pps_without_service_starts()
{
	local policy=/usr/sbin/policy-rc.d created= rc=0 svc new=()
	for svc in "${PPS_PACKAGED_SERVICES[@]}"; do
		dpkg-query -W -f='${Status}' "$svc" 2>/dev/null | grep -q 'ok installed' || new+=("$svc")
	done
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# pg_postmaster_stats tests: no service starts during apt-get\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		created=1
	fi
	"$@" || rc=$?
	if [ -n "$created" ]; then rm -f "$policy"; fi
	for svc in "${new[@]}"; do
		if [ -d /run/systemd/system ]; then
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		elif service "$svc" status >/dev/null 2>&1; then
			service "$svc" stop >/dev/null 2>&1 || true
		fi
	done
	return "$rc"
}

# warning-free build (-Werror) and, as root, make install
pps_build_install()
{
	local src=$1
	pps_step "building with $PG_CONFIG ($("$PG_CONFIG" --version))"
	make -C "$src" PG_CONFIG="$PG_CONFIG" clean >/dev/null
	make -C "$src" PG_CONFIG="$PG_CONFIG" COPT=-Werror
	if [ "$(id -u)" -eq 0 ]; then
		pps_step "installing the extension, and cap_bpf,cap_perfmon for its eBPF loader"
		make -C "$src" PG_CONFIG="$PG_CONFIG" install
		make -C "$src" PG_CONFIG="$PG_CONFIG" install-caps
	fi
}

# the test fixtures (test/fatfork/: a library that makes the postmaster's
# forks expensive), built warning-free and, as root, installed next to the
# extension.  They are not part of the product: the top-level `make
# install` never installs them, only the test and scenario commands do.
pps_build_install_fixtures()
{
	local src=$1
	pps_step "building the test fixture test/fatfork with $PG_CONFIG"
	make -C "$src/test/fatfork" PG_CONFIG="$PG_CONFIG" clean >/dev/null
	make -C "$src/test/fatfork" PG_CONFIG="$PG_CONFIG" COPT=-Werror
	if [ "$(id -u)" -eq 0 ]; then
		make -C "$src/test/fatfork" PG_CONFIG="$PG_CONFIG" install
	fi
	make -C "$src/test/fatfork" PG_CONFIG="$PG_CONFIG" clean >/dev/null
}

# run a command as the unprivileged cluster owner when we are root
pps_as_owner()
{
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "${TEST_USER:-postgres}" -- "$@"
	else
		"$@"
	fi
}
