#!/usr/bin/env bash
#
# run.sh - the scenario suite (issue 9): runs every scenario, or those
# named, then the cost benchmark test/bench/bench_cost.sh when it exists,
# collects their RESULT lines and prints them as a Markdown table with the
# machine they ran on.  With --update-docs the table replaces what is
# between the markers of docs/evidence.md
#   <!-- BEGIN scenario results --> and <!-- END scenario results -->
#
# Usage (as root: clusters run as the postgres OS user, bpftrace and the
# huge-page pool need root):
#   test/scenarios/run.sh [--update-docs] [SCENARIO...]
#   QUICK=1 test/scenarios/run.sh        # a few minutes instead of ~20
# It first installs what it needs on Debian 12 (test/lib/install-deps.sh:
# packages, then the extension built from this tree, with the loader's
# capabilities); SKIP_INSTALL=1 measures the installed build as it is.
# Scenarios: connection_storm agreement parallel_on_storm huge_pages
# expensive_fork idle_connections replay_backlog (each is
# test/scenarios/NAME.sh; their knobs are documented at their top).  NO_COST=1 skips the cost benchmark
# (run twice: everything, then pgbench -S without the exporter's scrape).
#
# A scenario that fails gets a row saying so (its log is in the output
# directory) and the others still run; the exit status is then 1.
#
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ALL=(connection_storm agreement parallel_on_storm huge_pages expensive_fork idle_connections replay_backlog)

update=0
names=()
for a in "$@"; do
	case $a in
		# --update-readme: its name from when the table was in README.md
		--update-docs | --update-readme) update=1 ;;
		-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
		cost) names+=(cost) ;;
		*)
			[[ -x $HERE/$a.sh ]] || { echo "run.sh: no scenario $a (have: ${ALL[*]} cost)" >&2; exit 2; }
			names+=("$a")
			;;
	esac
done
# no names: everything, the cost benchmark last (another script, optional)
[[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}" cost)
[[ $EUID -eq 0 ]] || { echo "run.sh: run as root" >&2; exit 2; }

if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
	# shellcheck source=../lib/install-deps.sh
	. "$REPO/test/lib/install-deps.sh"
	pps_install_packages
	pps_build_install "$REPO" >&2
	pps_build_install_fixtures "$REPO" >&2
fi

OUT=${OUT_DIR:-$(mktemp -d /tmp/pps_scenarios.XXXXXX)}
mkdir -p "$OUT"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$SECONDS
status=0

# run_one NAME CMD...: stdout (the RESULT lines) to NN_NAME.out (NN: the
# order they ran in, which the table keeps), everything to the terminal and
# to NAME.log
idx=0
run_one() {
	local name=$1 rc=0 t0=$SECONDS out
	shift
	idx=$((idx + 1))
	out=$OUT/$(printf '%02d' "$idx")_$name.out
	echo "=== $name" >&2
	"$@" 2> >(tee "$OUT/$name.log" >&2) | tee "$out" || rc=$?
	if ((rc != 0)); then
		status=1
		printf 'RESULT\t%s\tfailed (exit %s)\tsee %s\tFAILED\n' "$name" "$rc" "$OUT/$name.log" >>"$out"
	fi
	echo "=== $name: exit $rc, $((SECONDS - t0)) s" >&2
}

for n in "${names[@]}"; do
	if [[ $n == cost ]]; then
		# written by someone else, in parallel: run it if it is there
		[[ ${NO_COST:-0} != 1 && -f $REPO/test/bench/bench_cost.sh ]] || continue
		run_one cost bash "$REPO/test/bench/bench_cost.sh"
		# the same without the 1 Hz exporter scrape: the extension's own share
		run_one cost_without_scrape env SCRAPE=0 COST_WORKLOADS=select_only \
			bash "$REPO/test/bench/bench_cost.sh"
	else
		run_one "$n" bash "$HERE/$n.sh"
	fi
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
head=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] && head+="+dirty"

# the table: | scenario | ours | independent | verdict |, pipes escaped
table() {
	echo "Ran on $(nproc) vCPU ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r), $("/usr/lib/postgresql/15/bin/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /'); load average $load_start at the start, $load_end at the end; $started, $((SECONDS - t_start)) s$([[ ${QUICK:-0} == 1 ]] && echo ", QUICK=1"); git $head."
	echo
	echo "| scenario | what the extension reported | what the independent tool reported | verdict |"
	echo "|---|---|---|---|"
	cat "$OUT"/*.out 2>/dev/null | grep -a $'^RESULT\t' | awk -F'\t' '
		function esc(s) { gsub(/\|/, "\\|", s); return s }
		NF >= 5 { printf "| %s | %s | %s | %s |\n", esc($2), esc($3), esc($4), esc($5) }'
}
table >"$OUT/table.md"
echo >&2
cat "$OUT/table.md"
echo >&2
echo "# outputs and logs in $OUT" >&2

if ((update)); then
	doc=$REPO/docs/evidence.md
	grep -q '^<!-- BEGIN scenario results -->$' "$doc" && grep -q '^<!-- END scenario results -->$' "$doc" ||
		{ echo "run.sh: docs/evidence.md has no scenario results markers" >&2; exit 1; }
	awk -v table="$OUT/table.md" '
		/^<!-- BEGIN scenario results -->$/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
		/^<!-- END scenario results -->$/ { skip = 0 }
		!skip { print }' "$doc" >"$OUT/evidence.md.new"
	cat "$OUT/evidence.md.new" >"$doc"
	echo "# docs/evidence.md updated" >&2
fi
exit "$status"
