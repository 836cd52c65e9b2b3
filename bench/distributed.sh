#!/usr/bin/env bash
# bench/distributed.sh runs one open-model load two ways against the same
# nginx: as one gather process, and as SEGMENTS processes (bench --segment
# i/N, one --start-at) whose saved runs 'gather report' merges. It prints,
# for each round, the two side by side (requests, dropped, late, achieved
# rate, p50/p99, CPU per request), the merge's start skew, and a row per
# segment; then the last round's merged report beside the single one.
#
# What it shows: the merged counts equal the single run's (both are the
# schedule's RATE x DURATION requests when nothing is dropped), the rate
# holds, the segments start within a few ms of each other on one machine
# (the goal: <= 5 ms), and what splitting costs in CPU per request. On one
# machine the segments share its cores with nginx and with each other, so
# the latencies say little about a real cluster; the counts, the skew and
# the CPU per request do. And the merge's percentiles are those of one
# histogram holding every request: after each round, HdrHistogram's own
# JavaScript port (hdr-histogram-js, bench/distributed_onehist.js) adds up
# the segments' saved histograms, apart from gather, and the script
# compares its count, min, percentiles and max with the merged report's.
#
# It installs what it needs (Debian's nginx, jq, nodejs and npm, root for
# apt-get, under flock /work/notes/apt.lock when that exists; the pinned
# hdr-histogram-js from the npm registry into its work folder), builds gather, picks
# a free port, sends traffic to 127.0.0.1 only, bounds every run, and
# stops every process it started, by PID. Run it from anywhere:
#
#   bench/distributed.sh                     # 3 rounds of 10 s at 10,000 req/s
#   ROUNDS=1 DURATION=3 RATE=4000 bench/distributed.sh
#
# Other knobs: SEGMENTS (4), CONNS (40 in all, split among the segments),
# NGINX_PORT (default: a free one).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-10000}
CONNS=${CONNS:-40}
SEGMENTS=${SEGMENTS:-4}
HDRJS_VERSION=3.0.1

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init distributed

install_tools() {
	need nginx jq node:nodejs npm
	log "installing hdr-histogram-js $HDRJS_VERSION (npm)"
	mkdir -p "$work/hdrjs"
	(cd "$work/hdrjs" && npm install --silent --no-audit --no-fund "hdr-histogram-js@$HDRJS_VERSION" >/dev/null)
	cp "$repo/bench/distributed_onehist.js" "$work/hdrjs/"
}

# onehist checks the merged report against one histogram of every request
# of the segments' saved runs, made by hdr-histogram-js, and prints what it
# found; it counts a difference in $differ.
differ=0
onehist() { # merged.report.json segment.json...
	local merged=$1 one keys='[.count, .min_ms, .p50_ms, .p90_ms, .p95_ms, .p99_ms, .p99_9_ms, .max_ms]'
	shift
	one=$(node "$work/hdrjs/distributed_onehist.js" "$@")
	local a b
	a=$(jq -c "$keys" <<<"$one")
	b=$(jq -c ".response | $keys" "$merged")
	if [ "$a" = "$b" ]; then
		echo "         one histogram of every segment's request (hdr-histogram-js): count, min, p50, p90, p95, p99, p99.9, max $a ms: the merge's, equal"
	else
		echo "         one histogram of every segment's request (hdr-histogram-js): $a; the merge: $b: DIFFERENT"
		differ=$((differ + 1))
	fi
}

start_nginx() {
	nginx_start "listen 127.0.0.1:$NGINX_PORT;
        location / { return 200 \"Hello, world\\n\"; }"
	wait_port "$NGINX_PORT"
}

# row prints one line of the table from a JSON report.
row() { # round mode file
	local f
	f=$(jq -r '[.requests, .dropped, .late, .generator.achieved_rate_per_s, .response.p50_ms, .response.p99_ms,
		.generator.cpu_per_request_us, (if .runs > 1 then .start_skew_ms else -1 end)] | @tsv' "$3")
	# shellcheck disable=SC2086
	set -- "$1" "$2" $f
	local skew="-"
	[ "${10}" != "-1" ] && skew=$(printf '%.3f ms' "${10}")
	printf '%5s  %-7s %9d %7d %7d %11.1f %9.3f %9.3f %11.2f  %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "$skew"
}

install_tools
NGINX_PORT=${NGINX_PORT:-$(free_port)}
start_nginx
build_gather
gather=$work/gather
url="http://127.0.0.1:$NGINX_PORT/"
# -n, not -z: the schedule's RATE x DURATION requests are all sent, late
# if the machine holds a process up, so that the counts compare exactly.
requests=$((RATE * DURATION))
load=(-q "$RATE" -n "$requests" -c "$CONNS")

echo "# gather bench -q $RATE -n $requests -c $CONNS against nginx (1 worker): one process, then $SEGMENTS segments"
echo "# $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "round  mode     requests dropped    late  achieved/s    p50 ms    p99 ms  CPU µs/req  start skew"
equal=0
skews=()
for round in $(seq "$ROUNDS"); do
	dir=$work/round$round
	mkdir -p "$dir"
	# One process: the whole load.
	"$gather" bench "${load[@]}" --save "$dir/single.json" "$url" >"$dir/single.txt"
	"$gather" report -o json "$dir/single.json" >"$dir/single.report.json"
	row "$round" single "$dir/single.report.json"
	# The segments, each its own process, started together.
	at=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%S.%NZ)
	seg_pids=()
	for i in $(seq 0 $((SEGMENTS - 1))); do
		"$gather" bench "${load[@]}" --segment "$i/$SEGMENTS" --start-at "$at" --run-id "round$round" \
			--save "$dir/segment$i.json" "$url" >"$dir/segment$i.txt" &
		seg_pids+=($!)
		pids+=($!)
	done
	for pid in "${seg_pids[@]}"; do
		wait "$pid"
		stop_pid "$pid" # reaped already: this only drops it from pids
	done
	"$gather" report "$dir" 2>/dev/null >"$dir/merged.txt" || true
	"$gather" report -o json "$dir"/segment*.json >"$dir/merged.report.json"
	row "$round" merged "$dir/merged.report.json"
	onehist "$dir/merged.report.json" "$dir"/segment*.json
	if [ "$(jq -c '[.requests, .errors, .dropped]' "$dir/single.report.json")" = "$(jq -c '[.requests, .errors, .dropped]' "$dir/merged.report.json")" ]; then
		equal=$((equal + 1))
	fi
	skews+=("$(jq -r '.start_skew_ms * 1000 | round / 1000' "$dir/merged.report.json")")
	jq -r '.parts[] | "         segment \(.segment)/\(.segments): \(.requests) requests, \(.late) late, late start \(.late_start_ms * 1000 | round / 1000) ms, CPU \(if .requests > 0 then (.cpu_s * 1e6 / .requests * 100 | round / 100) else 0 end) µs/req"' "$dir/merged.report.json"
done
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# counts (requests, errors, dropped) equal, single and merged: $equal of $ROUNDS rounds"
echo "# merged percentiles those of one histogram of their requests: $((ROUNDS - differ)) of $ROUNDS rounds"
echo "# start skew of $SEGMENTS segments: $(IFS=,; echo "${skews[*]}" | sed 's/,/, /g') ms (goal: at most 5 ms)"
echo
last=$work/round$ROUNDS
echo "## The last round: one process"
echo
sed 's/^/    /' "$last/single.txt"
echo
echo "## The last round: $SEGMENTS segments, merged ('gather report' of their saved runs)"
echo
"$gather" report "$last"/segment*.json | sed 's/^/    /'
[ "$differ" -eq 0 ] # a merge that differs from one histogram fails the script
