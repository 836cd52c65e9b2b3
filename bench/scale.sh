#!/usr/bin/env bash
# bench/scale.sh measures what many tasks cost the gather library in wall
# time and peak resident memory, each run a process of its own
# (bench/scale), implementations alternating within each round.
#
# Part 1: 100,000 and 1,000,000 tasks that each sleep 1 s: gather (a task
# per item, gathered with All) against bare goroutines with a WaitGroup
# and a timer (-bare); the same with -together ("sleep1s+gate"), where
# each task waits until all have started, so that all n wait at once
# even when starting them takes longer than 1 s on a loaded machine; then a million waits of 1 ms through gather.Map at
# limit 1,000, which holds them in a few MB, a thousand at a time.
#
# Part 2: the workloads of pond's and ants' own benchmarks, 1,000,000 tasks
# of a 10 ms sleep and 1,000,000 CPU-bound tasks (about 2 µs of hashing),
# with the limits their users give: 50,000 workers for the sleeps, one per
# core for the CPU-bound work; gather.Map, errgroup, pond and ants get that
# limit, bare goroutines and gather.Go none.
#
# The table gives medians over ROUNDS rounds of the wall time, the CPU
# time (user and system) and the peak RSS, each with its ratio to the bare
# goroutines of the same workload. The machine's other load shows in the
# wall times most, in the CPU times less: compare within a run, and run it
# on an idle machine for figures to quote.
#
#   bench/scale.sh                 # ROUNDS=5, both parts (about 10 minutes)
#   ROUNDS=1 PART=1 bench/scale.sh # a quick look
#
# It needs Go only; run it from anywhere in the repository, under the
# bench lock on a shared machine (flock /work/notes/bench.lock ...).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
PART=${PART:-all} # 1, 2 or all
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init scale
cd "$repo"
go build -o "$work/scale" ./bench/scale
cores=$(getconf _NPROCESSORS_ONLN)

# run LABEL ARGS...: one run, its result line tagged with LABEL.
run() {
	local label=$1
	shift
	"$work/scale" "$@" | sed "s|^|label=$label |" >>"$work/results"
}

if [[ $PART == 1 || $PART == all ]]; then
	for n in 100000 1000000; do
		for ((r = 1; r <= ROUNDS; r++)); do
			run "sleep1s/$n" -impl bare -n $n -sleep 1s
			run "sleep1s/$n" -impl gather -n $n -sleep 1s
			run "sleep1s+gate/$n" -impl bare -n $n -sleep 1s -together
			run "sleep1s+gate/$n" -impl gather -n $n -sleep 1s -together
		done
	done
	# A million waits through a bounded Map: 1,000 at a time, 1 ms each.
	for ((r = 1; r <= ROUNDS; r++)); do
		run "sleep1ms/1000000" -impl map -limit 1000 -n 1000000 -sleep 1ms
	done
fi
if [[ $PART == 2 || $PART == all ]]; then
	for ((r = 1; r <= ROUNDS; r++)); do
		for impl in bare gather map errgroup pond ants; do
			limit=50000
			[[ $impl == bare || $impl == gather ]] && limit=0
			run "sleep10ms/1000000" -impl $impl -limit $limit -n 1000000 -sleep 10ms
		done
		for impl in bare gather map errgroup pond ants; do
			limit=$cores
			[[ $impl == bare || $impl == gather ]] && limit=0
			run "cpu/1000000" -impl $impl -limit $limit -n 1000000 -work cpu
		done
	done
fi

# The table: medians per label and implementation, and ratios to bare.
awk "$awk_median"'
function field(name,   i, kv) {
	for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
	return ""
}
{
	key = field("label") SUBSEP field("impl") SUBSEP field("limit") SUBSEP field("work")
	if (!(key in wall)) order[++keys] = key
	w = field("wall"); sub(/s$/, "", w)
	c = field("cpu"); sub(/s$/, "", c)
	m = field("peak_rss"); sub(/MiB$/, "", m)
	wall[key] = wall[key] " " w
	cpu[key] = cpu[key] " " c
	rss[key] = rss[key] " " m
	runs[key]++
}
END {
	for (k = 1; k <= keys; k++) {
		split(order[k], p, SUBSEP)
		if (p[2] == "bare") { bw[p[1]] = median(wall[order[k]]); bc[p[1]] = median(cpu[order[k]]); br[p[1]] = median(rss[order[k]]) }
	}
	printf "%-22s %-9s %6s %5s %10s %7s %10s %7s %11s %7s\n", "workload/tasks", "impl", "limit", "runs", "wall", "x bare", "cpu", "x bare", "peak RSS", "x bare"
	for (k = 1; k <= keys; k++) {
		split(order[k], p, SUBSEP)
		w = median(wall[order[k]]); c = median(cpu[order[k]]); m = median(rss[order[k]])
		label = p[1]
		rw = (label in bw && bw[label] > 0) ? sprintf("%.2fx", w / bw[label]) : "-"
		rc = (label in bc && bc[label] > 0) ? sprintf("%.2fx", c / bc[label]) : "-"
		rm = (label in br && br[label] > 0) ? sprintf("%.2fx", m / br[label]) : "-"
		printf "%-22s %-9s %6s %5d %9.3fs %7s %9.3fs %7s %7.1f MiB %7s\n", label, p[2], p[3] == 0 ? "none" : p[3], runs[order[k]], w, rw, c, rc, m, rm
	}
}' "$work/results"
